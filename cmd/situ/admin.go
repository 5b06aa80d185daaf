package main

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/internal/secrets"
	"situ/models"
)

// adminCommand is one subcommand of situ admin.
type adminCommand struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	run     func(a *adminRun, args []string) error
}

// adminCommands lists situ admin's subcommands.
func adminCommands() []adminCommand {
	return []adminCommand{
		{"config", "", "show the configuration in effect", adminShowConfig},
		{"weights", "", "show every weight: learned, override, pin, effective (--treatment T: one treatment)", adminWeights},
		{"set-weight", "", "override a weight: --treatment T --feature F (--set X | --multiply X)", adminSetWeight},
		{"pin", "", "hold a weight still: --treatment T --feature F [--at X]", adminPin},
		{"unpin", "", "let the learner change a weight again: --treatment T --feature F", adminUnpin},
		{"clear-weight", "", "remove a weight's override: --treatment T --feature F", adminClearWeight},
		{"levers", "[set TREATMENT=VALUE ...]", "show the levers, or set them (0 removes one)", adminLevers},
		{"policy", "apply -f FILE", "replace the service policy with a YAML file", adminPolicy},
		{"reward", "apply -f FILE", "replace the reward definition with a YAML or JSON file", adminReward},
		{"exploration", "[set]", "show the exploration settings, or set [--explorer E] [--epsilon X] [--gamma0 X]", adminExploration},
		{"history", "", "list the versions, newest first", adminHistory},
		{"show", "VERSION", "show one version: who, when, why, the change and what it changed", adminShow},
		{"diff", "FROM TO", "show what differs between two versions", adminDiff},
		{"rollback", "VERSION", "make a new version whose configuration equals VERSION's", adminRollback},
		{"experiments", "create|list|show ID|stop ID|results ID", "start, list, show and stop A/B experiments of strategies, and read their results", adminExperiments},
	}
}

// DefaultAdminURL is where situ admin finds situ without --url.
const DefaultAdminURL = "http://127.0.0.1:8080"

// defaultTokenFile is the admin token situ serve writes into its default
// data dir; situ admin reads it when no token is given.
var defaultTokenFile = filepath.Join(".situ", secrets.AdminTokenFile)

const adminSynopsis = `Read and change the data team's configuration of a running situ through
its admin API (docs/admin.md): weights, pins, levers, the reward, the
service policy and exploration, with the history, diffs and rollbacks; and
the experiments that compare treatment strategies.`

// runAdmin dispatches situ admin <subcommand>.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeAdminUsage(stderr)
		return fmt.Errorf("%w: a subcommand is required", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		writeAdminUsage(stdout)
		return nil
	}
	for _, c := range adminCommands() {
		if c.name == args[0] {
			return c.run(&adminRun{ctx: ctx, name: c.name, summary: c.summary, argsUsage: c.args, stdout: stdout}, args[1:])
		}
	}
	return fmt.Errorf("%w: unknown subcommand %q; situ admin --help lists them", errUsage, args[0])
}

func writeAdminUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: situ admin <subcommand> [flags] [arguments]\n\n%s\n\nSubcommands (situ admin <subcommand> --help for its flags):\n", adminSynopsis)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range adminCommands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	_ = tw.Flush()
}

// adminRun is one run of a subcommand: its flags, and once parsed, the
// client.
type adminRun struct {
	ctx                context.Context
	name, summary      string
	argsUsage          string
	stdout             io.Writer
	fs                 *flagSet
	url, token, tokenF string
	json               bool
	// writes
	write          bool
	reason, author string
	dryRun         bool
	baseVersion    optInt
	client         *http.Client
	baseURL        *url.URL
	resolvedToken  string
}

// flags starts the subcommand's flag set with the flags every subcommand
// has; write adds those of a change.
func (a *adminRun) flags(write bool) *flagSet {
	synopsis := a.summary
	if a.argsUsage != "" {
		synopsis = "Arguments: " + a.argsUsage + "\n\n" + synopsis
	}
	fs := newFlagSet("admin "+a.name, synopsis, io.Discard)
	fs.StringVar(&a.url, "url", DefaultAdminURL, "base `URL` of the situ service")
	fs.StringVar(&a.token, "token", "", "the bearer `TOKEN` (prefer --token-file: a flag shows in the process list)")
	fs.describeDefault("token", "none: --token-file")
	fs.StringVar(&a.tokenF, "token-file", "", "`FILE` holding the bearer token")
	fs.describeDefault("token-file", defaultTokenFile+" when it exists (what situ serve writes without --auth-file)")
	fs.BoolVar(&a.json, "json", false, "print the server's JSON answer (indented) instead of a table")
	if write {
		a.write = true
		fs.StringVar(&a.reason, "reason", "", "why the change is made (required; kept in the history)")
		fs.StringVar(&a.author, "author", "", "who makes the change (kept in the history)")
		fs.describeDefault("author", "the OS user name")
		fs.BoolVar(&a.dryRun, "dry-run", false, "validate and show what would change; change nothing (an analyst token may do this)")
		fs.Var(&a.baseVersion, "base-version", "refuse the change unless `VERSION` is still the current one")
		fs.describeDefault("base-version", "none: apply on whatever is current")
	}
	a.fs = fs
	return fs
}

// parse parses the flags (anywhere among the arguments) and returns the
// positional arguments, between min and max of them (max < 0: any).
func (a *adminRun) parse(args []string, min, max int) ([]string, error) {
	pos, err := a.fs.parseInterspersed(args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < min:
		return nil, a.usage("missing arguments: %s", a.argsUsage)
	case max >= 0 && len(pos) > max:
		return nil, a.usage("unexpected argument %q", pos[max])
	}
	if a.write {
		if strings.TrimSpace(a.reason) == "" {
			return nil, a.usage("--reason is required: say why the change is made (it is kept in the history)")
		}
		if a.author == "" {
			a.author = osUserName()
		}
		if a.author == "" {
			return nil, a.usage("--author is required: the OS user name is unknown")
		}
	}
	if err := a.connect(); err != nil {
		return nil, err
	}
	return pos, nil
}

func (a *adminRun) usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s (situ admin %s --help)", errUsage, fmt.Sprintf(format, args...), a.name)
}

// parseInterspersed is parse for commands with arguments: flags may come
// before, between and after them; "--" ends the flags.
func (fs *flagSet) parseInterspersed(args []string) ([]string, error) {
	if err := fs.parse(nil); err != nil { // the environment
		return nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{fs}
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func osUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// connect checks the URL and finds the token: --token, else --token-file,
// else the default token file when it exists.
func (a *adminRun) connect() error {
	u, err := url.Parse(strings.TrimRight(a.url, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return a.usage("--url %q must be an http or https URL, e.g. %s", a.url, DefaultAdminURL)
	}
	a.baseURL = u
	a.resolvedToken = a.token
	if a.resolvedToken == "" {
		path := a.tokenF
		if path == "" {
			if _, err := os.Stat(defaultTokenFile); err == nil {
				path = defaultTokenFile
			}
		}
		if path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("token file: %w", err)
			}
			a.resolvedToken = strings.TrimSpace(string(b))
			clear(b)
			if a.resolvedToken == "" {
				return fmt.Errorf("token file %s is empty", path)
			}
		}
	}
	a.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	return nil
}

// serverError is an error answer of the server: its status and problem.
type serverError struct {
	status               int
	code, message, field string
}

func (e *serverError) Error() string {
	msg := e.code + ": " + e.message
	if e.field != "" {
		msg += " (field " + e.field + ")"
	}
	return msg + " [HTTP " + strconv.Itoa(e.status) + "]"
}

// do sends a request (body v as JSON unless nil) and returns the answer's
// body; an error answer is a *serverError.
func (a *adminRun) do(method, path string, query url.Values, v any) ([]byte, error) {
	defer a.client.CloseIdleConnections()
	u := *a.baseURL
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(a.ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.resolvedToken != "" {
		req.Header.Set("Authorization", "Bearer "+a.resolvedToken)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return nil, &hintError{fmt.Errorf("cannot reach situ at %s: %w", a.baseURL.Redacted(), err),
			"Is situ running (make run)? Point situ admin at it with --url (SITU_URL)."}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s %s: %w", method, path, err)
	}
	if res.StatusCode < 400 {
		return b, nil
	}
	var p struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &p) != nil || p.Error.Code == "" {
		return nil, fmt.Errorf("%s %s answered %s: %s", method, path, res.Status, strings.TrimSpace(truncateText(string(b), 200)))
	}
	serr := &serverError{status: res.StatusCode, code: p.Error.Code, message: p.Error.Message, field: p.Error.Field}
	switch {
	case res.StatusCode == http.StatusUnauthorized && a.resolvedToken == "":
		return nil, &hintError{serr, "Give a token with --token-file FILE (SITU_TOKEN_FILE; situ serve writes " + defaultTokenFile + "), or --token (SITU_TOKEN)."}
	case serr.code == api.CodeStaleVersion:
		return nil, &hintError{serr, "Someone else's change landed first: situ admin history shows it; retry with the current --base-version."}
	}
	return nil, serr
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// get fetches path and decodes the answer into v.
func (a *adminRun) get(path string, query url.Values, v any) ([]byte, error) {
	b, err := a.do(http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode the answer of %s: %w", path, err)
	}
	return b, nil
}

// fetch gets path into v for the caller to print as a table, and reports
// whether it is to: with --json it prints the server's answer itself.
func (a *adminRun) fetch(path string, query url.Values, v any) (table bool, err error) {
	b, err := a.get(path, query, v)
	if err != nil {
		return false, err
	}
	if a.json {
		return false, a.printJSON(b)
	}
	return true, nil
}

// printJSON writes the server's JSON answer indented.
func (a *adminRun) printJSON(b []byte) error {
	var out bytes.Buffer
	if err := stdjson.Indent(&out, bytes.TrimSpace(b), "", "  "); err != nil {
		return fmt.Errorf("indent the answer: %w", err)
	}
	out.WriteByte('\n')
	_, err := a.stdout.Write(out.Bytes())
	return err
}

// table writes rows (tab-separated cells) aligned.
func (a *adminRun) table(header string, rows []string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
}

// num formats a number for a table: up to 6 significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// submit posts change, prints what it did (or would do) and returns.
func (a *adminRun) submit(change control.Change) error {
	req := api.ChangeRequest{Author: a.author, Reason: a.reason, DryRun: a.dryRun, Change: change, BaseVersion: a.baseVersion.ptr()}
	b, err := a.do(http.MethodPost, api.RouteAdminChanges, nil, req)
	if err != nil {
		return err
	}
	return a.printChange(b)
}

// printChange prints b, the api.ChangeAnswer of a change or a rollback.
func (a *adminRun) printChange(b []byte) error {
	if a.json {
		return a.printJSON(b)
	}
	var ans api.ChangeAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	kinds := make([]string, len(ans.Kinds))
	for i, k := range ans.Kinds {
		kinds[i] = string(k)
	}
	if ans.DryRun {
		fmt.Fprintf(a.stdout, "dry run: this would be version %d (%s); nothing was changed\n", ans.Version, strings.Join(kinds, ", "))
	} else {
		fmt.Fprintf(a.stdout, "version %d accepted (%s), by %s: %s\n", ans.Version, strings.Join(kinds, ", "), ans.Author, ans.Reason)
	}
	a.printDiff(ans.Diff)
	return nil
}

// printDiff writes differences as a table.
func (a *adminRun) printDiff(diffs []control.Difference) {
	if len(diffs) == 0 {
		fmt.Fprintln(a.stdout, "no differences")
		return
	}
	rows := make([]string, len(diffs))
	for i, d := range diffs {
		rows[i] = d.Path + "\t" + diffValue(d.Path, d.Before) + "\t" + diffValue(d.Path, d.After)
	}
	a.table("PATH\tBEFORE\tAFTER", rows)
}

// diffValue shows one side of a difference: a weight's override and pin,
// a policy's size, any other value as JSON, "-" when absent.
func diffValue(path string, v any) string {
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	switch {
	case strings.HasPrefix(path, "weights["):
		var w control.Weight
		if json.Unmarshal(b, &w) != nil {
			return string(b)
		}
		return weightText(w)
	case path == "policy":
		var s string
		if json.Unmarshal(b, &s) == nil {
			return fmt.Sprintf("%d lines of YAML", strings.Count(strings.TrimRight(s, "\n"), "\n")+1)
		}
	}
	return string(b)
}

// weightText describes a configuration's entry for one weight.
func weightText(w control.Weight) string {
	var parts []string
	switch {
	case w.Set != nil:
		parts = append(parts, "set "+num(*w.Set))
	case w.Multiply != nil:
		parts = append(parts, "multiply "+num(*w.Multiply))
	}
	if w.PinnedAt != nil {
		parts = append(parts, "pinned at "+num(*w.PinnedAt))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func adminShowConfig(a *adminRun, args []string) error {
	a.flags(false)
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var ans api.ConfigAnswer
	if table, err := a.fetch(api.RouteAdminConfig, nil, &ans); !table {
		return err
	}
	c := ans.Config
	fmt.Fprintf(a.stdout, "configuration version %d\n\n", ans.Version)
	if len(c.Weights) == 0 {
		fmt.Fprintln(a.stdout, "weights: no overrides or pins")
	} else {
		rows := make([]string, len(c.Weights))
		for i, w := range c.Weights {
			rows[i] = w.Treatment + "\t" + w.Feature + "\t" + weightText(w)
		}
		a.table("TREATMENT\tFEATURE\tOVERRIDE AND PIN", rows)
	}
	fmt.Fprintln(a.stdout)
	a.printLevers(c.Levers)
	fmt.Fprintln(a.stdout)
	r := c.Reward
	fmt.Fprintf(a.stdout, "reward version %d, clip [%s, %s]\n", r.Version, num(r.Clip[0]), num(r.Clip[1]))
	rw := r.Weights
	var rows []string
	for _, t := range []struct {
		name string
		v    float64
	}{
		{"resolved", rw.Resolved}, {"csat", rw.CSAT}, {"upsell_accepted", rw.UpsellAccepted}, {"revenue", rw.Revenue},
		{"revenue_cap", rw.RevenueCap}, {"handle_seconds", rw.HandleSeconds}, {"escalated", rw.Escalated},
		{"recontact_7d", rw.Recontact7d}, {"churned", rw.Churned},
	} {
		rows = append(rows, t.name+"\t"+num(t.v))
	}
	a.table("TERM\tWEIGHT", rows)
	fmt.Fprintln(a.stdout)
	a.printExploration(c.Exploration)
	fmt.Fprintf(a.stdout, "policy: %s (--json prints the text)\n", diffValue("policy", c.Policy))
	return nil
}

// showConfigPart runs a subcommand that shows part of the configuration:
// its version, then what show writes of it.
func (a *adminRun) showConfigPart(args []string, show func(c control.Config)) error {
	a.flags(false)
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var ans api.ConfigAnswer
	if table, err := a.fetch(api.RouteAdminConfig, nil, &ans); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "configuration version %d\n", ans.Version)
	show(ans.Config)
	return nil
}

func (a *adminRun) printLevers(levers map[string]float64) {
	rows := make([]string, 0, features.NumTreatments)
	for _, name := range features.TreatmentNames() {
		rows = append(rows, name+"\t"+num(levers[name]))
	}
	a.table("TREATMENT\tLEVER", rows)
}

func (a *adminRun) printExploration(x control.Exploration) {
	fmt.Fprintf(a.stdout, "exploration: %s, epsilon %s, gamma0 %s\n", x.Explorer, num(x.Epsilon), num(x.Gamma0))
}

func adminWeights(a *adminRun, args []string) error {
	fs := a.flags(false)
	treatment := fs.String("treatment", "", "show only this `TREATMENT` (fast_resolution, pamper_upsell, self_service)")
	fs.describeDefault("treatment", "every treatment")
	all := fs.Bool("all", false, "also list the weights that are 0 with no override or pin")
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var q url.Values
	if *treatment != "" {
		q = url.Values{"treatment": {*treatment}}
	}
	var ans api.WeightsTable
	if table, err := a.fetch(api.RouteAdminWeights, q, &ans); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "model version %d, configuration version %d\n", ans.ModelVersion, ans.ConfigVersion)
	rows := make([]string, 0, len(ans.Weights))
	hidden := 0
	for _, w := range ans.Weights {
		if !*all && w.Learned == 0 && w.Effective == 0 && w.Override == nil && !w.Pinned {
			hidden++
			continue
		}
		override := "-"
		if w.Override != nil {
			switch {
			case w.Override.Set != nil:
				override = "set " + num(*w.Override.Set)
			case w.Override.Multiply != nil:
				override = "multiply " + num(*w.Override.Multiply)
			}
		}
		pinned := "-"
		if w.Pinned {
			pinned = "pinned"
		}
		rows = append(rows, w.Treatment+"\t"+w.Feature+"\t"+num(w.Learned)+"\t"+override+"\t"+pinned+"\t"+num(w.Effective))
	}
	a.table("TREATMENT\tFEATURE\tLEARNED\tOVERRIDE\tPIN\tEFFECTIVE", rows)
	if hidden > 0 {
		fmt.Fprintf(a.stdout, "(%d weights that are 0 with no override or pin not shown: --all lists them)\n", hidden)
	}
	return nil
}

// submitWeight runs a subcommand that changes one weight: --treatment
// and --feature, the flags addFlags adds (nil: none), and the change fill
// completes.
func (a *adminRun) submitWeight(args []string, addFlags func(fs *flagSet), fill func(op *control.WeightChange) error) error {
	fs := a.flags(true)
	treatment := fs.String("treatment", "", "the weight's `TREATMENT` (required)")
	feature := fs.String("feature", "", "the weight's `FEATURE`, as situ admin weights lists it, or bias (required)")
	if addFlags != nil {
		addFlags(fs)
	}
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	if *treatment == "" || *feature == "" {
		return a.usage("--treatment and --feature are required")
	}
	op := control.WeightChange{Treatment: *treatment, Feature: *feature}
	if err := fill(&op); err != nil {
		return err
	}
	return a.submit(control.Change{Weights: []control.WeightChange{op}})
}

func adminSetWeight(a *adminRun, args []string) error {
	var set, multiply optFloat
	return a.submitWeight(args, func(fs *flagSet) {
		fs.Var(&set, "set", "serve this `VALUE` instead of the learned weight")
		fs.Var(&multiply, "multiply", "serve the learned weight times this `FACTOR`")
	}, func(op *control.WeightChange) error {
		if set.given == multiply.given {
			return a.usage("give exactly one of --set and --multiply")
		}
		op.Set, op.Multiply = set.ptr(), multiply.ptr()
		return nil
	})
}

func adminPin(a *adminRun, args []string) error {
	var at optFloat
	return a.submitWeight(args, func(fs *flagSet) {
		fs.Var(&at, "at", "pin at this `VALUE`")
		fs.describeDefault("at", "the learned value now")
	}, func(op *control.WeightChange) error {
		op.Pin, op.At = true, at.ptr()
		return nil
	})
}

func adminUnpin(a *adminRun, args []string) error {
	return a.submitWeight(args, nil, func(op *control.WeightChange) error {
		op.Unpin = true
		return nil
	})
}

func adminClearWeight(a *adminRun, args []string) error {
	return a.submitWeight(args, nil, func(op *control.WeightChange) error {
		op.Clear = true
		return nil
	})
}

func adminLevers(a *adminRun, args []string) error {
	if len(args) > 0 && args[0] == "set" {
		a.name, a.argsUsage, a.summary = "levers set", "TREATMENT=VALUE ...", "set levers: additive values (or, negative, costs) in reward units; 0 removes one"
		a.flags(true)
		pos, err := a.parse(args[1:], 1, -1)
		if err != nil {
			return err
		}
		levers := map[string]float64{}
		for _, p := range pos {
			name, value, ok := strings.Cut(p, "=")
			v, err := strconv.ParseFloat(value, 64)
			if !ok || name == "" || err != nil {
				return a.usage("%q is not TREATMENT=VALUE, e.g. pamper_upsell=-0.05", p)
			}
			levers[name] = v
		}
		return a.submit(control.Change{Levers: levers})
	}
	return a.showConfigPart(args, func(c control.Config) { a.printLevers(c.Levers) })
}

// applyFile runs "<name> apply -f FILE": the file's bytes, for build to
// turn into the change.
func applyFile(a *adminRun, args []string, name, what string, build func(doc []byte) (control.Change, error)) error {
	if len(args) == 0 || args[0] != "apply" {
		return fmt.Errorf("%w: situ admin %s apply -f FILE replaces the %s; to read it: situ admin config", errUsage, name, what)
	}
	a.name, a.argsUsage = name+" apply", "-f FILE"
	fs := a.flags(true)
	file := fs.String("f", "", "the `FILE` to apply (required)")
	if _, err := a.parse(args[1:], 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return a.usage("-f FILE is required")
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	ch, err := build(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	return a.submit(ch)
}

func adminPolicy(a *adminRun, args []string) error {
	return applyFile(a, args, "policy", "service policy", func(doc []byte) (control.Change, error) {
		p := string(doc)
		return control.Change{Policy: &p}, nil
	})
}

func adminReward(a *adminRun, args []string) error {
	return applyFile(a, args, "reward", "reward definition", func(doc []byte) (control.Change, error) {
		r, err := models.ParseReward(doc)
		if err != nil {
			return control.Change{}, err
		}
		return control.Change{Reward: &r}, nil
	})
}

func adminExploration(a *adminRun, args []string) error {
	if len(args) > 0 && args[0] == "set" {
		a.name, a.argsUsage = "exploration set", ""
		fs := a.flags(true)
		explorer := fs.String("explorer", "", "the `EXPLORER`: squarecb or epsilon-greedy")
		fs.describeDefault("explorer", "unchanged")
		var epsilon, gamma0 optFloat
		fs.Var(&epsilon, "epsilon", "squarecb's uniform floor, or epsilon-greedy's exploration probability (`X`)")
		fs.describeDefault("epsilon", "unchanged")
		fs.Var(&gamma0, "gamma0", "squarecb's initial γ (`X`)")
		fs.describeDefault("gamma0", "unchanged")
		if _, err := a.parse(args[1:], 0, 0); err != nil {
			return err
		}
		x := control.ExplorationChange{Epsilon: epsilon.ptr(), Gamma0: gamma0.ptr()}
		if *explorer != "" {
			x.Explorer = explorer
		}
		if x == (control.ExplorationChange{}) {
			return a.usage("give at least one of --explorer, --epsilon and --gamma0")
		}
		return a.submit(control.Change{Exploration: &x})
	}
	return a.showConfigPart(args, func(c control.Config) { a.printExploration(c.Exploration) })
}

func adminHistory(a *adminRun, args []string) error {
	a.flags(false)
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var ans api.HistoryAnswer
	if table, err := a.fetch(api.RouteAdminChanges, nil, &ans); !table {
		return err
	}
	if len(ans.Changes) == 0 {
		fmt.Fprintln(a.stdout, "no changes: version 0, the built-in configuration, is in effect")
		return nil
	}
	rows := make([]string, len(ans.Changes))
	for i, c := range ans.Changes {
		kinds := make([]string, len(c.Kinds))
		for j, k := range c.Kinds {
			kinds[j] = string(k)
		}
		what := strings.Join(kinds, ", ")
		if c.RollbackOf != nil {
			what += " (rollback to " + strconv.FormatInt(*c.RollbackOf, 10) + ")"
		}
		rows[i] = strconv.FormatInt(c.Version, 10) + "\t" + c.Time.UTC().Format(time.RFC3339) + "\t" + c.Author + "\t" + what + "\t" + oneLine(c.Reason)
	}
	a.table("VERSION\tTIME\tAUTHOR\tCHANGED\tREASON", rows)
	return nil
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// parseVersions parses the flags and the n arguments, each a version.
func (a *adminRun) parseVersions(args []string, n int) ([]int64, error) {
	pos, err := a.parse(args, n, n)
	if err != nil {
		return nil, err
	}
	vs := make([]int64, n)
	for i, s := range pos {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return nil, a.usage("%q is not a version (a whole number from 0)", s)
		}
		vs[i] = v
	}
	return vs, nil
}

func adminShow(a *adminRun, args []string) error {
	a.flags(false)
	vs, err := a.parseVersions(args, 1)
	if err != nil {
		return err
	}
	var r control.Record
	if table, err := a.fetch("/v1/admin/changes/"+strconv.FormatInt(vs[0], 10), nil, &r); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "version %d by %s at %s\n", r.Version, r.Author, r.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(a.stdout, "reason: %s\n", oneLine(r.Reason))
	if r.RollbackOf != nil {
		fmt.Fprintf(a.stdout, "rollback to version %d\n", *r.RollbackOf)
	}
	ch, err := control.EncodeChange(r.Change)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "change: %s\n", ch)
	a.printDiff(control.Diff(r.Before, r.After))
	return nil
}

func adminDiff(a *adminRun, args []string) error {
	a.flags(false)
	vs, err := a.parseVersions(args, 2)
	if err != nil {
		return err
	}
	from, to := vs[0], vs[1]
	var ans api.DiffAnswer
	if table, err := a.fetch(api.RouteAdminDiff, versionsQuery(from, to), &ans); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "from version %d to version %d\n", from, to)
	a.printDiff(ans.Differences)
	return nil
}

// versionsQuery is the query of api.RouteAdminDiff.
func versionsQuery(from, to int64) url.Values {
	return url.Values{"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
}

func adminRollback(a *adminRun, args []string) error {
	a.flags(true)
	vs, err := a.parseVersions(args, 1)
	if err != nil {
		return err
	}
	target := vs[0]
	if a.dryRun {
		// what the rollback would change: the current version against the target
		var cur api.ConfigAnswer
		if _, err := a.get(api.RouteAdminConfig, nil, &cur); err != nil {
			return err
		}
		if base := a.baseVersion.ptr(); base != nil && *base != cur.Version {
			return &serverError{status: http.StatusConflict, code: api.CodeStaleVersion, field: "base_version",
				message: fmt.Sprintf("base_version %d is not the current version %d", *base, cur.Version)}
		}
		var ans api.DiffAnswer
		if table, err := a.fetch(api.RouteAdminDiff, versionsQuery(cur.Version, target), &ans); !table {
			return err
		}
		fmt.Fprintf(a.stdout, "dry run: rolling back to version %d would make version %d; nothing was changed\n", target, cur.Version+1)
		a.printDiff(ans.Differences)
		return nil
	}
	b, err := a.do(http.MethodPost, api.RouteAdminRollback, nil, api.RollbackRequest{
		ToVersion: target, Author: a.author, Reason: a.reason, BaseVersion: a.baseVersion.ptr(),
	})
	if err != nil {
		return err
	}
	return a.printChange(b)
}

// optFloat is a float flag that knows whether it was given.
type optFloat struct {
	v     float64
	given bool
}

func (o *optFloat) String() string {
	if o == nil || !o.given {
		return ""
	}
	return num(o.v)
}

func (o *optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("not a number")
	}
	o.v, o.given = v, true
	return nil
}

func (o *optFloat) ptr() *float64 {
	if !o.given {
		return nil
	}
	v := o.v
	return &v
}

// optInt is an integer flag that knows whether it was given.
type optInt struct {
	v     int64
	given bool
}

func (o *optInt) String() string {
	if o == nil || !o.given {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optInt) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return errors.New("not a version (a whole number from 0)")
	}
	o.v, o.given = v, true
	return nil
}

func (o *optInt) ptr() *int64 {
	if !o.given {
		return nil
	}
	v := o.v
	return &v
}
