// Command situ is the situational next-best-action service.
//
//	situ serve     run the decision service (HTTP API, learner, embedded broker)
//	situ sim       play a synthetic contact centre against a running situ
//	situ version   print the version
//	situ help      list the commands
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
	"os"
	"os/signal"
	"runtime/debug"
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
		{"version", "print the version", runVersion},
		{"help", "list the commands", runHelp},
	}
}

// errUsage marks errors in how situ was called (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "situ:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "situ:", err)
		os.Exit(1)
	}
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
	return fmt.Errorf("%w: unknown command %q (situ help lists them)", errUsage, name)
}

func runHelp(_ context.Context, _ []string, stdout, _ io.Writer) error {
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
	command string
	// defaults describes the defaults that the flag's zero value stands for.
	defaults map[string]string
}

func newFlagSet(command, synopsis string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("situ "+command, flag.ContinueOnError), command: command, defaults: map[string]string{}}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: situ %s [flags]\n\n%s\n\nFlags (each also read from its environment variable; a flag wins):\n", command, synopsis)
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
			fmt.Fprintf(stderr, "  %s\n      %s\n      env %s, default %s\n", arg, usage, envName(f.Name), def)
		})
	}
	return fs
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
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: situ %s takes no arguments, got %q", errUsage, fs.command, fs.Args())
	}
	return nil
}
