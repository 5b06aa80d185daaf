// Command situ is the situational next-best-action service.
//
//	situ serve     run the decision service (HTTP API, learner, embedded broker)
//	situ sim       play a synthetic contact centre against a running situ
//	situ version   print the version
//	situ help      list the commands (situ help <command>: its flags)
//
// Every flag has an environment variable (SITU_ plus the flag name in
// upper case, '-' as '_'); a flag on the command line wins over the
// environment. `situ <command> --help` lists them with their defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand of situ.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; adding one is one line here.
func commands() []command {
	return []command{
		{"serve", "run the decision service (HTTP API, learner, embedded broker)", runServe},
		{"sim", "play a synthetic contact centre against a running situ", runSim},
		{"admin", "read and change the data team's configuration (weights, levers, reward, policy, experiments)", runAdmin},
		{"version", "print the version", runVersion},
		{"help", "list the commands", runHelp},
	}
}

// errUsage marks errors in how situ was called (exit status 2).
var errUsage = errors.New("usage")

// hintError is an error with a line that tells the user what to do about
// it; runMain prints the hint under the error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// helpRequest is returned by a flag set asked for --help: runMain writes
// the usage to stdout and exits 0.
type helpRequest struct{ fs *flagSet }

func (h *helpRequest) Error() string { return flag.ErrHelp.Error() }
func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain runs situ with args and returns the exit status: 0 on success
// and for help (written to stdout), 2 for a usage error (the error and a
// pointer to --help on stderr), 1 for any other error (on stderr).
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	if h := (*helpRequest)(nil); errors.As(err, &h) {
		h.fs.writeUsage(stdout)
		return 0
	}
	prefix, known := "situ", false
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] {
				prefix, known = "situ "+c.name, true
			}
		}
	}
	msg := err.Error()
	if errors.Is(err, errUsage) {
		msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
	}
	fmt.Fprintf(stderr, "%s: %s\n", prefix, msg)
	if h := (*hintError)(nil); errors.As(err, &h) {
		fmt.Fprintln(stderr, h.hint)
	}
	if !errors.Is(err, errUsage) {
		return 1
	}
	switch {
	case len(args) == 0: // the command list is already on stderr
	case known && args[0] != "help" && args[0] != "version":
		fmt.Fprintf(stderr, "Run '%s --help' for the flags.\n", prefix)
	default:
		fmt.Fprintln(stderr, "Run 'situ help' for the commands.")
	}
	return 2
}

// run dispatches args to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		_ = runHelp(ctx, nil, stderr, stderr)
		return fmt.Errorf("%w: a command is required", errUsage)
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, name)
}

// runHelp lists the commands; `situ help <command>` is `situ <command> --help`.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] && c.name != "help" && c.name != "version" {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		return fmt.Errorf("%w: no command %q", errUsage, strings.Join(args, " "))
	}
	fmt.Fprintln(stdout, "situ — situational next-best-action scoring service")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Usage: situ <command> [flags]   (situ <command> --help for its flags)")
	fmt.Fprintln(stdout)
	for _, c := range commands() {
		fmt.Fprintf(stdout, "  %-10s %s\n", c.name, c.summary)
	}
	return nil
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				v += " (" + s.Value + ")"
			}
		}
		v += " " + info.GoVersion
	}
	fmt.Fprintln(stdout, "situ", v)
	return nil
}

// flagSet is a flag.FlagSet whose every flag can also be set through an
// environment variable: SITU_ + the flag name in upper case.
type flagSet struct {
	*flag.FlagSet
	command  string
	synopsis string
	// defaults describes the defaults that the flag's zero value stands for.
	defaults map[string]string
}

// newFlagSet returns the flag set of a command. It writes nothing itself:
// parse returns a *helpRequest for --help (runMain writes the usage to
// stdout) and a usage error for a bad flag (runMain prints it with a
// pointer to --help), so the output argument is not used.
func newFlagSet(command, synopsis string, _ io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("situ "+command, flag.ContinueOnError), command: command, synopsis: synopsis, defaults: map[string]string{}}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// writeUsage writes the command's synopsis and every flag with its
// environment variable and default.
func (fs *flagSet) writeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: situ %s [flags]\n\n%s\n\nFlags (each also read from its environment variable; a flag wins):\n", fs.command, fs.synopsis)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		arg := "--" + f.Name
		if name != "" {
			arg += " " + name
		}
		def := f.DefValue
		if d, ok := fs.defaults[f.Name]; ok {
			def = d
		} else if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %s\n      %s\n      env %s, default %s\n", arg, usage, envName(f.Name), def)
	})
}

// describeDefault sets the text --help shows as the default of a flag
// whose zero value stands for something else.
func (fs *flagSet) describeDefault(name, text string) { fs.defaults[name] = text }

// envName is the environment variable of a flag: --log-level → SITU_LOG_LEVEL.
func envName(flagName string) string {
	return "SITU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies the environment, then the command line. Bad values name
// the variable or flag they came from.
func (fs *flagSet) parse(args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: invalid value for --%s: %w", envName(f.Name), v, f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpRequest{fs}
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q: situ %s takes only flags", errUsage, fs.Arg(0), fs.command)
	}
	return nil
}

// explainAddrInUse adds a hint to an "address already in use" error of
// situ serve: which flag (and make variable) moves the listener it was
// about, the HTTP API's --addr or the embedded broker's --broker-addr.
func explainAddrInUse(err error, opts serveOptions) error {
	var op *net.OpError
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &op) || op.Addr == nil {
		return err
	}
	host, port, splitErr := net.SplitHostPort(op.Addr.String())
	n, atoiErr := strconv.Atoi(port)
	if splitErr != nil || atoiErr != nil {
		return err
	}
	next := net.JoinHostPort(host, strconv.Itoa(n%65535+1))
	samePort := func(addr string) bool {
		_, p, err := net.SplitHostPort(addr)
		return err == nil && p == port
	}
	switch {
	case samePort(opts.brokerAddr) && opts.kafkaBrokers == "":
		return &hintError{err, fmt.Sprintf("Another process (a Kafka broker, another situ?) listens on %s: give the embedded broker another address with --broker-addr (SITU_BROKER_ADDR), e.g. --broker-addr %s, or make run BROKER_ADDR=%[2]s.", op.Addr, next)}
	case samePort(opts.addr):
		return &hintError{err, fmt.Sprintf("Another process listens on %s: give the HTTP API another address with --addr (SITU_ADDR), e.g. --addr %s, or make run ADDR=%[2]s.", op.Addr, next)}
	}
	return err
}
