package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa/server/ingest"
)

// decode reads a small JSON body strictly: bounded, no unknown fields, one
// value only.
func decode[T any](c *gin.Context, limit int64) (T, error) {
	b, err := readSmall(c, limit)
	if err != nil {
		var v T
		return v, err
	}
	return decodeBytes[T](b)
}

// readSmall reads a whole small body, refusing one over limit.
func readSmall(c *gin.Context, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if isMaxBytes(err) {
		return nil, tooLarge("body exceeds %d bytes", limit)
	}
	if err != nil {
		return nil, invalid(nil, "body could not be read")
	}
	return b, nil
}

// decodeBytes is decode for a body already read (to check its signature).
func decodeBytes[T any](b []byte) (T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, invalid(nil, "body is not valid JSON: %s", ingest.JSONError(err))
	}
	if dec.More() {
		return v, invalid(nil, "body must hold one JSON object")
	}
	return v, nil
}
