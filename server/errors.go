package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// errorBody is the one shape every API error takes.
type errorBody struct {
	Error    string            `json:"error"`
	Problems jagadesa.Problems `json:"problems,omitempty"`
	ErrorID  string            `json:"error_id,omitempty"` // names the logged cause
}

// tooManyRetry is what a 429 asks the caller to wait: the budget it met
// frees as soon as the reports ahead of it are read.
const tooManyRetry = 5 * time.Second

// newErrorID names one failed request in the log.
func newErrorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusOf is the only place where an error code becomes an HTTP status.
func statusOf(code string) int {
	switch code {
	case jagadesa.EInvalid:
		return http.StatusBadRequest
	case jagadesa.EUnauthorized:
		return http.StatusUnauthorized
	case jagadesa.EForbidden:
		return http.StatusForbidden
	case jagadesa.ENotFound:
		return http.StatusNotFound
	case jagadesa.EConflict:
		return http.StatusConflict
	case jagadesa.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case jagadesa.EUnavailable:
		return http.StatusServiceUnavailable
	case jagadesa.ETooMany:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// renderErrors turns the last error a handler attached with c.Error into the
// JSON error shape. Application errors show their message; anything else is
// logged with its cause and shown as "internal error".
func (s *Server) renderErrors() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 {
			return
		}
		err := c.Errors.Last().Err
		var ae *jagadesa.Error
		if !errors.As(err, &ae) {
			ae = &jagadesa.Error{Code: jagadesa.EInternal, Message: "internal error", Err: err}
		}
		st := statusOf(ae.Code)
		body := errorBody{Error: ae.Message, Problems: ae.Problems}
		if ae.Err != nil || st >= 500 {
			// The cause (a database's own words, internal addresses) is for
			// the log; the caller gets an id to quote.
			body.ErrorID = newErrorID()
			body.Error += " (error id " + body.ErrorID + ")"
			level := slog.LevelWarn
			if st >= 500 {
				level = slog.LevelError
			}
			s.Logger.Log(c.Request.Context(), level, "request failed", "method", c.Request.Method, "path", c.FullPath(), "status", st, "error_id", body.ErrorID, "err", err)
		}
		switch ae.Code {
		case jagadesa.EUnavailable:
			c.Header("Retry-After", strconv.Itoa(int(s.RetryAfter.Seconds())))
		case jagadesa.ETooMany:
			c.Header("Retry-After", strconv.Itoa(int(tooManyRetry.Seconds())))
		}
		if ae.Code == jagadesa.EUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="jagadesa"`)
		}
		if c.Writer.Written() {
			return
		}
		c.AbortWithStatusJSON(st, body)
	}
}

// recoverer logs a panic and answers 500 instead of dropping the connection.
func (s *Server) recoverer() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		s.Logger.Error("panic in handler", "path", c.FullPath(), "err", fmt.Sprint(rec), slog.String("method", c.Request.Method))
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: "internal error"})
	})
}

func invalid(problems jagadesa.Problems, format string, args ...any) error {
	e := jagadesa.Errorf(jagadesa.EInvalid, format, args...)
	e.Problems = problems
	return e
}

func notFound(format string, args ...any) error {
	return jagadesa.Errorf(jagadesa.ENotFound, format, args...)
}

func tooLarge(format string, args ...any) error {
	return jagadesa.Errorf(jagadesa.ETooLarge, format, args...)
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
