package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// enrollRequest is the body of POST /api/v1/probes.
type enrollRequest struct {
	Village string `json:"village"`
}

// enrollResponse carries the probe's token, shown this once only.
type enrollResponse struct {
	Probe   string `json:"probe"`
	Village string `json:"village"`
	Token   string `json:"token"`
}

// decode reads a small JSON body strictly: bounded, no unknown fields, one
// value only.
func decode[T any](c *gin.Context, limit int64) (T, error) {
	var v T
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		if isMaxBytes(err) {
			return v, tooLarge("body exceeds %d bytes", limit)
		}
		return v, invalid(nil, "body is not valid JSON: %s", jsonErr(err))
	}
	if dec.More() {
		return v, invalid(nil, "body must hold one JSON object")
	}
	return v, nil
}

func (s *Server) handleEnrollProbe(c *gin.Context) {
	req, err := decode[enrollRequest](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !jagadesa.ValidVillageCode(req.Village) {
		_ = c.Error(invalid(jagadesa.Problems{"village": "must be a Kemendagri village code like 33.06.08.2005"}, "bad village"))
		return
	}
	if _, ok := s.Registry.Village(req.Village); !ok {
		_ = c.Error(invalid(jagadesa.Problems{"village": "not in the village registry"}, "unknown village %s", req.Village))
		return
	}
	p, tok, err := s.Probes.CreateProbe(c.Request.Context(), req.Village)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.Logger.Info("probe enrolled", "probe", p.ID, "village", p.Village)
	c.JSON(http.StatusCreated, enrollResponse{Probe: p.ID, Village: p.Village, Token: tok})
}

func (s *Server) handleListProbes(c *gin.Context) {
	ps, err := s.Probes.Probes(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": len(ps), "probes": ps})
}
