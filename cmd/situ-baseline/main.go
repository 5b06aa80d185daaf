// Command situ-baseline is the yardstick of the HTTP load test
// (scripts/bench_http.sh): a minimal gin handler on POST /v1/score that
// decodes the same JSON body into a struct with encoding/json and answers
// with a JSON document of about the size of situ's real answer, behind an
// http.Server with the same settings as situ's. It decides nothing, logs
// nothing and keeps no metrics: what situ serve spends beyond it is the
// cost of deciding, explaining, measuring and logging.
//
//	situ-baseline --addr 127.0.0.1:8081   (env SITU_BASELINE_ADDR)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/gin-gonic/gin"

	"situ/api"
	"situ/features"
)

// request is the score request as a plain struct.
type request struct {
	features.Context
	Treatments []string `json:"treatments"`
}

type perTreatment struct {
	FastResolution float64 `json:"fast_resolution"`
	PamperUpsell   float64 `json:"pamper_upsell"`
	SelfService    float64 `json:"self_service"`
}

type contribution struct {
	Feature      string  `json:"feature"`
	Contribution float64 `json:"contribution"`
}

// response has the shape and about the size (≈1 KB) of situ's answer.
type response struct {
	DecisionID    string       `json:"decision_id"`
	Treatment     string       `json:"treatment"`
	Probabilities perTreatment `json:"probabilities"`
	Propensity    float64      `json:"propensity"`
	Scores        perTreatment `json:"scores"`
	Strategy      string       `json:"strategy"`
	ModelVersion  int64        `json:"model_version"`
	Policy        struct {
		Rules        []string          `json:"rules"`
		Excluded     map[string]string `json:"excluded"`
		Entitlements []string          `json:"entitlements"`
		Uniform      bool              `json:"uniform"`
	} `json:"policy"`
	HumanEscape bool `json:"human_escape"`
	Explanation struct {
		FastResolution []contribution `json:"fast_resolution"`
		PamperUpsell   []contribution `json:"pamper_upsell"`
		SelfService    []contribution `json:"self_service"`
	} `json:"explanation"`
}

func main() {
	addr := flag.String("addr", envOr("SITU_BASELINE_ADDR", "127.0.0.1:8081"), "listen address (env SITU_BASELINE_ADDR)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "situ-baseline:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	var n atomic.Uint64
	r.POST(api.RouteScore, func(c *gin.Context) {
		var req request
		dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, api.DefaultMaxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": gin.H{"code": "invalid_json", "message": err.Error()}})
			return
		}
		c.JSON(http.StatusOK, answer(&req, n.Add(1)))
	})

	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: api.DefaultReadHeaderTimeout,
		ReadTimeout:       api.DefaultReadTimeout,
		WriteTimeout:      api.DefaultWriteTimeout,
		IdleTimeout:       api.DefaultIdleTimeout,
		MaxHeaderBytes:    api.DefaultMaxHeaderBytes,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// answer fills the response from the request without deciding anything.
func answer(req *request, n uint64) *response {
	conf := req.Intent.ConfidenceOrOne()
	s := req.Friction.Sentiment
	res := &response{
		DecisionID:    "0190b6f4-0000-7000-8000-" + fmt.Sprintf("%012d", n),
		Treatment:     "fast_resolution",
		Probabilities: perTreatment{0.9333333333333333, 0.03333333333333333, 0.03333333333333333},
		Propensity:    0.9333333333333333,
		Scores:        perTreatment{conf * 1.4888545577130379, s * 0.8352998591617485, -1.0498584850148223},
		Strategy:      "learned",
		ModelVersion:  1,
		HumanEscape:   true,
	}
	res.Policy.Rules = []string{"friction-no-self-service", "open-complaint-no-upsell"}
	res.Policy.Excluded = map[string]string{}
	res.Policy.Entitlements = []string{}
	res.Explanation.FastResolution = []contribution{
		{"friction.open_complaint", 0.25}, {"friction.repeat_contacts_7d", 0.24}, {"friction.failed_self_service_24h", 0.15}}
	res.Explanation.PamperUpsell = []contribution{
		{"friction.open_complaint", -0.4}, {"friction.repeat_contacts_7d", -0.24}, {"intent=" + req.Intent.Name, -0.2}}
	res.Explanation.SelfService = []contribution{
		{"friction.repeat_contacts_7d", -0.3}, {"friction.failed_self_service_24h", -0.3}, {"channel=" + req.Channel, strconv.IntSize / 320.0}}
	return res
}
