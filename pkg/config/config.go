// Package config turns the function's environment variables into a ready
// interceptor handler. A configuration or bundle error never stops the
// function: it yields a handler that denies everything and says why.
package config

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"

	"github.com/toolgate/toolgate/pkg/bundle"
	"github.com/toolgate/toolgate/pkg/interceptor"
	"github.com/toolgate/toolgate/pkg/policy"
)

// Config is the function's configuration.
type Config struct {
	// Environment (ENVIRONMENT) is the deployment's environment. Unset means
	// "production": the strictest assumption.
	Environment string
	// PolicySource (POLICY_SOURCE): empty for the embedded bundle, or a
	// directory path.
	PolicySource string
	// DenyStatus (DENY_STATUS_CODE) is the HTTP status of denials, 200 by default.
	DenyStatus int
	// LogLevel (AWS_LAMBDA_LOG_LEVEL, else LOG_LEVEL): debug, info, warn, error.
	LogLevel slog.Level
}

// FromEnv reads the configuration through getenv.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Environment:  strings.TrimSpace(getenv("ENVIRONMENT")),
		PolicySource: strings.TrimSpace(getenv("POLICY_SOURCE")),
		DenyStatus:   200,
	}
	if c.Environment == "" {
		c.Environment = "production"
	}
	if s := strings.TrimSpace(getenv("DENY_STATUS_CODE")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 200 || n > 599 {
			return c, fmt.Errorf("DENY_STATUS_CODE %q: want an HTTP status from 200 to 599", s)
		}
		c.DenyStatus = n
	}
	level := getenv("AWS_LAMBDA_LOG_LEVEL")
	if level == "" {
		level = getenv("LOG_LEVEL")
	}
	if level != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
			return c, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	return c, nil
}

// Logger returns a JSON logger at level, the format Lambda's JSON log
// format expects.
func Logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewHandler builds the handler for the environment read through getenv,
// loading the bundle named by POLICY_SOURCE (embedded: the default bundle). It
// logs to w. On any error it logs the error and returns a handler that denies
// every request with the reason, together with the error.
func NewHandler(getenv func(string) string, embedded fs.FS, w io.Writer) (*interceptor.Handler, *bundle.Bundle, error) {
	cfg, cfgErr := FromEnv(getenv)
	logger := Logger(w, cfg.LogLevel)
	if cfgErr != nil {
		logger.Error("invalid configuration: denying every request", "error", cfgErr.Error())
		return interceptor.New(interceptor.Config{Engine: policy.Broken(cfgErr), Logger: logger}), nil, cfgErr
	}
	b, err := bundle.Open(cfg.PolicySource, embedded)
	if err != nil {
		logger.Error("policy bundle failed to load: denying every request", "error", err.Error())
		return interceptor.New(interceptor.Config{Environment: cfg.Environment, DenyStatus: cfg.DenyStatus,
			Engine: policy.Broken(err), Logger: logger}), nil, err
	}
	logger.Info("policy bundle loaded", "bundle", b.Source, "digest", b.Digest, "policies", len(b.Policies), "environment", cfg.Environment)
	h := interceptor.New(interceptor.Config{
		Environment: cfg.Environment,
		DenyStatus:  cfg.DenyStatus,
		Engine:      b.Engine,
		Catalog:     b.Catalog,
		Redactor:    b.Redactor,
		Bundle:      b.Source + "@" + b.Digest,
		Logger:      logger,
	})
	return h, b, nil
}
