// Command situ-baseline is the yardstick of the HTTP load test
// (scripts/bench_http.sh): a minimal gin handler on POST /v1/score that
// decodes the same JSON body into contract.ScoreRequest with encoding/json
// and answers with a document of contract.ScoreResponse's members and about
// the size of situ's real answer, behind an http.Server with the same
// settings as situ's. The answer is a struct with one field per treatment
// rather than contract.ScoreResponse's maps: the baseline is what a plain
// gin handler costs, and encoding/json sorts map keys at a cost (about twice
// the encoding time) that would flatter situ's ratio. main_test.go holds its
// members to the contract. It decides nothing, logs
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
	"situ/api/contract"
)

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
		var req contract.ScoreRequest
		dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, api.DefaultMaxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			c.JSON(http.StatusBadRequest, contract.Problem{Error: contract.ProblemDetail{Code: api.CodeInvalidJSON, Message: err.Error()}})
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

// perTreatment holds one number per treatment, in situ's member order.
type perTreatment struct {
	FastResolution float64 `json:"fast_resolution"`
	PamperUpsell   float64 `json:"pamper_upsell"`
	SelfService    float64 `json:"self_service"`
}

// explanation holds the contributions per treatment.
type explanation struct {
	FastResolution []contract.Contribution `json:"fast_resolution"`
	PamperUpsell   []contract.Contribution `json:"pamper_upsell"`
	SelfService    []contract.Contribution `json:"self_service"`
}

// response has contract.ScoreResponse's members (main_test.go checks it).
type response struct {
	DecisionID    string               `json:"decision_id"`
	Treatment     string               `json:"treatment"`
	Probabilities perTreatment         `json:"probabilities"`
	Propensity    float64              `json:"propensity"`
	Scores        perTreatment         `json:"scores"`
	Levers        struct{}             `json:"levers"`
	Strategy      string               `json:"strategy"`
	ModelVersion  int64                `json:"model_version"`
	ConfigVersion int64                `json:"config_version"`
	Policy        contract.ScorePolicy `json:"policy"`
	HumanEscape   bool                 `json:"human_escape"`
	Unknown       []string             `json:"unknown"`
	Explanation   explanation          `json:"explanation"`
}

// answer fills the answer from the request without deciding anything.
func answer(req *contract.ScoreRequest, n uint64) *response {
	conf := req.Intent.ConfidenceOrOne()
	s := req.Friction.Sentiment
	c := func(f string, v float64) contract.Contribution {
		return contract.Contribution{Feature: f, Contribution: v}
	}
	return &response{
		DecisionID:    "0190b6f4-0000-7000-8000-" + fmt.Sprintf("%012d", n),
		Treatment:     "fast_resolution",
		Probabilities: perTreatment{0.9333333333333333, 0.03333333333333333, 0.03333333333333333},
		Propensity:    0.9333333333333333,
		Scores:        perTreatment{conf * 1.4888545577130379, s * 0.8352998591617485, -1.0498584850148223},
		Strategy:      "learned",
		ModelVersion:  1,
		Policy: contract.ScorePolicy{
			Rules:        []string{"friction-no-self-service", "open-complaint-no-upsell"},
			Excluded:     map[string]string{},
			Entitlements: []string{},
		},
		HumanEscape: true,
		Unknown:     []string{},
		Explanation: explanation{
			FastResolution: []contract.Contribution{c("friction.open_complaint", 0.25), c("friction.repeat_contacts_7d", 0.24), c("friction.failed_self_service_24h", 0.15)},
			PamperUpsell:   []contract.Contribution{c("friction.open_complaint", -0.4), c("friction.repeat_contacts_7d", -0.24), c("intent="+req.Intent.Name, -0.2)},
			SelfService:    []contract.Contribution{c("friction.repeat_contacts_7d", -0.3), c("friction.failed_self_service_24h", -0.3), c("channel="+req.Channel, strconv.IntSize/320.0)},
		},
	}
}
