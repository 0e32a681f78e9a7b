package gateway

import (
	"encoding/json"
	"errors"
)

// Output is the interceptor's answer. For an MCP event, MCP carries exactly one
// of TransformedGatewayRequest (continue to the target) and
// TransformedGatewayResponse (answer the caller now): the gateway lets a
// response win when both are present, and mixing them has let calls through.
type Output struct {
	InterceptorOutputVersion string      `json:"interceptorOutputVersion"`
	MCP                      *MCPOutput  `json:"mcp,omitempty"`
	HTTP                     *HTTPOutput `json:"http,omitempty"`
}

// MCPOutput is the answer to an MCP event.
type MCPOutput struct {
	TransformedGatewayRequest  *TransformedRequest  `json:"transformedGatewayRequest,omitempty"`
	TransformedGatewayResponse *TransformedResponse `json:"transformedGatewayResponse,omitempty"`
}

// HTTPOutput is the answer to an HTTP-target event. This project passes such
// events through unchanged.
type HTTPOutput struct {
	TransformedGatewayRequest  *TransformedRequest  `json:"transformedGatewayRequest,omitempty"`
	TransformedGatewayResponse *TransformedResponse `json:"transformedGatewayResponse,omitempty"`
}

// TransformedRequest is the request the gateway forwards to the target. Headers
// are forwarded to the target, an Authorization header included, so callers'
// headers are never echoed here.
type TransformedRequest struct {
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// TransformedResponse is the response the gateway returns to the caller.
type TransformedResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       json.RawMessage   `json:"body,omitempty"`
}

// Continue returns an output that forwards body to the target.
func Continue(body json.RawMessage) Output {
	return Output{
		InterceptorOutputVersion: OutputVersion,
		MCP:                      &MCPOutput{TransformedGatewayRequest: &TransformedRequest{Body: body}},
	}
}

// Respond returns an output that answers the caller at once.
func Respond(status int, headers map[string]string, body json.RawMessage) Output {
	return Output{
		InterceptorOutputVersion: OutputVersion,
		MCP: &MCPOutput{TransformedGatewayResponse: &TransformedResponse{
			StatusCode: status, Headers: headers, Body: body,
		}},
	}
}

// Validate checks the invariants the gateway relies on: the output version,
// exactly one target member, exactly one transformed member, and a body that
// is a JSON object or array whenever one is present.
func (o Output) Validate() error {
	if o.InterceptorOutputVersion != OutputVersion {
		return errors.New("interceptorOutputVersion is not " + OutputVersion)
	}
	var req *TransformedRequest
	var resp *TransformedResponse
	switch {
	case o.MCP != nil && o.HTTP == nil:
		req, resp = o.MCP.TransformedGatewayRequest, o.MCP.TransformedGatewayResponse
	case o.HTTP != nil && o.MCP == nil:
		req, resp = o.HTTP.TransformedGatewayRequest, o.HTTP.TransformedGatewayResponse
	default:
		return errors.New("output must have exactly one of mcp and http")
	}
	switch {
	case req != nil && resp != nil:
		return errors.New("output has both transformedGatewayRequest and transformedGatewayResponse")
	case req == nil && resp == nil:
		return errors.New("output has neither transformedGatewayRequest nor transformedGatewayResponse")
	case resp != nil && !ValidStatus(resp.StatusCode):
		return errors.New("transformedGatewayResponse has no valid statusCode")
	}
	body := json.RawMessage(nil)
	if req != nil {
		body = req.Body
	} else {
		body = resp.Body
	}
	if o.MCP != nil && body != nil {
		if _, err := structured(body); err != nil {
			return errors.New("body is not a JSON object or array")
		}
	}
	return nil
}

// ValidStatus reports whether code is an HTTP status the gateway can answer
// with.
func ValidStatus(code int) bool { return code >= 100 && code <= 599 }
