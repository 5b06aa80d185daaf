package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// childMetrics gathers a child process's /metrics, each series labelled
// child=<name>, so that the parent's /metrics shows the whole service (the
// learner's and the broker's metrics beside the API's).
type childMetrics struct {
	name, addr string
	client     *http.Client
}

func newChildMetrics(name, addr string) *childMetrics {
	// Uncompressed: a gzipped answer costs the child a new flate writer
	// (about 1 MB) per scrape, for a transfer over loopback.
	return &childMetrics{name: name, addr: addr, client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}}
}

// Gather implements prometheus.Gatherer. A child that does not answer
// contributes nothing (its readiness says why); that is no error.
func (m *childMetrics) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics of child %s: %w", m.name, err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics of child %s: %w", m.name, err)
	}
	out := make([]*dto.MetricFamily, 0, len(families))
	for _, f := range families {
		for _, metric := range f.Metric {
			metric.Label = append(metric.Label, &dto.LabelPair{Name: labelValue("child"), Value: labelValue(m.name)})
		}
		out = append(out, f)
	}
	return out, nil
}

func labelValue(s string) *string { return &s }
