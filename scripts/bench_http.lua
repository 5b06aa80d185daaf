-- wrk script of scripts/bench_http.sh: POST the DESIGN.md example body to
-- /v1/score and print one machine-readable RESULT line at the end.
wrk.method = "POST"
wrk.path = "/v1/score"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{
  "customer": {"id": "c-1842", "lifetime_value": 5400, "annual_spend": 1200,
               "tenure_months": 38, "tier": "gold", "first_contact": false,
               "prefers_self_service": false},
  "intent":   {"name": "billing_dispute", "confidence": 0.8},
  "channel":  "phone",
  "friction": {"repeat_contacts_7d": 2, "failed_self_service_24h": 1,
               "wait_seconds": 180, "transfers": 1, "open_complaint": true,
               "sentiment": -0.6},
  "attributes": {"any_extra_feature": 1.0},
  "treatments": ["fast_resolution", "pamper_upsell", "self_service"]
}]]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
