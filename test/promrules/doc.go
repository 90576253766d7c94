// Package promrules evaluates every alerting rule Canopy ships with Prometheus' own rule engine:
// the PrometheusRule each monitored database gets (the builder's golden file, which the builder's
// test keeps equal to its output) and the operator's own rules in config/prometheus.
//
// It is a module of its own so that Prometheus' dependencies (client-go among them, at versions of
// its choosing) never enter the operator's module graph.
package promrules
