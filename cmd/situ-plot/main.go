// Command situ-plot draws the report `situ sim --json FILE` writes: per
// window, the served decisions' expected reward as a share of the oracle's
// beside the best fixed strategy's, and the cumulative regret
// (docs/simulator.md, "Reading the report").
//
//	situ sim --json sim.json …
//	situ-plot --out sim.png sim.json     (.png or .svg; "-" reads stdin)
//
// It is a command of its own so that the situ binary carries no plotting
// library and no fonts.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"situ/simulation"
	"situ/simulation/plot"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
}

// run draws the report named in args and returns the exit status: 0 done,
// 1 the report could not be read or drawn, 2 bad usage.
func run(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("situ-plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "situ-sim.png", "`FILE` to draw to: .png or .svg")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: situ-plot [--out FILE] REPORT.json   (the report of situ sim --json; - reads stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if err := draw(fs.Arg(0), *out, stdin); err != nil {
		fmt.Fprintln(stderr, "situ-plot:", err)
		return 1
	}
	fmt.Fprintf(stderr, "plot written to %s\n", *out)
	return 0
}

// draw reads the report at path (stdin for "-") and draws it to out.
func draw(path, out string, stdin io.Reader) error {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	rep, err := simulation.ReadReport(r)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return plot.WriteFile(out, rep)
}
