package judge

import (
	"context"

	"github.com/toolgate/toolgate/internal/attributes"
)

// FilterTools exposes the list filter to the benchmarks: one evaluation pass
// over the tools of a decoded tools/list answer.
func (j *Judge) FilterTools(in attributes.Input, body map[string]any) ([]string, error) {
	var r Result
	err := j.filterTools(context.Background(), in, body, &r)
	return r.Decision.Hidden, err
}
