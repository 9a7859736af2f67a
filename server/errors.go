package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// errorBody is the one shape every API error takes.
type errorBody struct {
	Error    string            `json:"error"`
	Problems jagadesa.Problems `json:"problems,omitempty"`
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
		if st >= 500 {
			s.Logger.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		}
		if ae.Code == jagadesa.EUnavailable {
			c.Header("Retry-After", strconv.Itoa(int(s.RetryAfter.Seconds())))
		}
		if ae.Code == jagadesa.EUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="jagadesa"`)
		}
		if c.Writer.Written() {
			return
		}
		c.AbortWithStatusJSON(st, errorBody{Error: ae.Message, Problems: ae.Problems})
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
