package jagadesa

import "time"

// TokenRequest is the body a probe posts to POST /api/v1/probes/token to
// fetch its next token after staff asked for a rotation (BatchResult
// RotateToken). A probe with a key signs it (SignatureHeader), so a stolen
// token alone cannot rotate the real probe out; Purpose keeps a signed
// request from being anything else, and At bounds its replay.
type TokenRequest struct {
	Village string    `json:"village"` // the probe's village (it may not know its probe id)
	Purpose string    `json:"purpose"` // TokenPurpose
	At      time.Time `json:"at"`
}

// TokenPurpose is TokenRequest.Purpose.
const TokenPurpose = "rotate-token"

// TokenResponse answers a TokenRequest: the new token, valid beside the
// old one until its first use.
type TokenResponse struct {
	Probe string `json:"probe"`
	Token string `json:"token"`
}

// EnrollWithCode is the body of POST /api/v1/enroll: what
// `jagadesa-probe enroll` sends with the code a field technician types.
type EnrollWithCode struct {
	Code      string `json:"code"`
	PublicKey string `json:"public_key"`
	Village   string `json:"village,omitempty"` // optional: checked against the code's
}

// Enrolled answers an enrollment: the probe's id and token (shown once).
type Enrolled struct {
	Probe    string   `json:"probe"`
	Village  string   `json:"village"`
	Token    string   `json:"token"`
	KeyID    string   `json:"key_id,omitempty"`
	Replaced []string `json:"replaced,omitempty"`
}
