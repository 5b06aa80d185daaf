// Command quality_table prints the table of make bench-quality from the
// situ sim --json reports it is given: per world the served decisions'
// share of the oracle in the last window and the best fixed strategy's,
// and per drift run the share before and after the change of world,
// followed by the targets of docs/benchmarks.md ("Decision quality").
package main

import (
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	"situ/simulation"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "quality_table:", err)
		os.Exit(1)
	}
}

func run(files []string) error {
	var worlds, drifts []*simulation.Report
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		r, err := simulation.ReadReport(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if r.DriftAt > 0 {
			drifts = append(drifts, r)
		} else {
			worlds = append(worlds, r)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "world\tcontacts\tserved/oracle\tbest fixed\tfixed/oracle\tserved − fixed\t")
	var ratios []float64
	above := 0
	for _, r := range worlds {
		s := r.Summary
		fixed := 0.0
		if s.LastOracle > 0 {
			fixed = s.BestStrategyReward / s.LastOracle
		}
		ratios = append(ratios, s.OracleRatio)
		if s.ServedMinusBest > 0 {
			above++
		}
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%s\t%.3f\t%+.3f\t\n", r.World, r.Contacts, s.OracleRatio, s.BestStrategy, fixed, s.ServedMinusBest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		median := ratios[len(ratios)/2]
		if len(ratios)%2 == 0 {
			median = (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
		}
		fmt.Printf("\nmedian %.3f (target ≥ 0.95: %s), worst %.3f (target ≥ 0.92: %s), above the best fixed strategy in %d of %d worlds (target: all: %s)\n\n",
			median, met(median >= 0.95), ratios[0], met(ratios[0] >= 0.92), above, len(ratios), met(above == len(ratios)))
	}
	if len(drifts) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "world → drift world\tdrift at\tbefore\tfirst window after\tlast window\tcontacts after\t≥ 0.93 after\t")
	recovered := 0
	for _, r := range drifts {
		d := r.Drift
		if d == nil {
			return fmt.Errorf("drift run of world %d has no window after the drift", r.World)
		}
		rec := "no"
		if d.Recovered >= 0 {
			rec = fmt.Sprint(d.Recovered)
			if d.Recovered <= 15000 {
				recovered++
			}
		}
		fmt.Fprintf(tw, "%d → %d\t%d\t%.3f\t%.3f\t%.3f\t%d\t%s\t\n", r.World, r.DriftWorld, r.DriftAt, d.Before, d.First, d.Last, r.Contacts-r.DriftAt, rec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\n≥ %.2f of the new oracle within 15,000 contacts in %d of %d drift runs (target: all: %s)\n", simulation.RecoveryTarget, recovered, len(drifts), met(recovered == len(drifts)))
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
