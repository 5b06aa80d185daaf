// Command quality_capacity measures what a feature representation can
// represent, apart from how fast a learner learns it. For each world it
// draws contacts from the simulator's population, takes every eligible
// treatment's exact expected reward there (simulation.World.
// ExpectedRewards: full information, no outcome noise, no exploration),
// fits each treatment's linear model over the schema's features to them
// by ridge least squares (the fit an online least-squares learner tends
// to with unlimited data from these contacts), and reports the share of
// the oracle that the fitted models' greedy choice earns on other contacts
// of the same population. A schema that cannot reach 0.93 here cannot
// reach it by learning; one that can may still learn it too slowly
// (scripts/quality_tune measures that).
//
// The contacts' eligible treatments come from the default policy, as in
// situ serve; the schemas are compared on the same contacts. It refuses
// make bench-quality's held-out worlds, unless -bound-held-out (a bound
// once the defaults are fixed, never a way to choose them).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/simulation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quality_capacity:", err)
		os.Exit(1)
	}
}

// defaultWorlds are the tuning worlds and the drifts' new worlds.
const defaultWorlds = "11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 " +
	"1011 1012 1013 1014 1015 1016 1017 1018 1019 1020 1021 1022 1023 1024 1025 1026 1027 1028"

func run() error {
	worlds := flag.String("worlds", defaultWorlds, "world seeds (space-separated); never bench-quality's (101-110, 201-205, 1201-1205)")
	schemas := flag.String("schemas", "default", "comma-separated schema YAML files; \"default\" is the embedded schema")
	fitN := flag.Int("fit", 40000, "contacts the models are fitted on")
	evalN := flag.Int("eval", 20000, "contacts (after the fitted ones) the greedy choice is measured on")
	ridge := flag.Float64("ridge", 1e-3, "ridge penalty λ per contact (λ·fit on the weights, not the bias)")
	popSeed := flag.Uint64("population-seed", 1, "population seed")
	bandit := flag.Bool("bandit", false, "fit on bandit feedback instead: one uniformly drawn eligible treatment per fitted contact and one drawn outcome's reward, as a learner logging uniformly sees them (what the representation can learn from -fit such contacts with an exact least-squares fit)")
	verbose := flag.Bool("v", false, "print every world's share, not only the summary")
	boundHeldOut := flag.Bool("bound-held-out", false, "allow make bench-quality's held-out worlds, to bound what a representation can reach there once the defaults are fixed (never to choose them)")
	flag.Parse()

	var seeds []uint64
	for _, ws := range strings.Fields(*worlds) {
		seed, err := strconv.ParseUint(ws, 10, 64)
		if err != nil {
			return fmt.Errorf("-worlds: %w", err)
		}
		if simulation.HeldOutWorld(seed) && !*boundHeldOut {
			return fmt.Errorf("world %d is one of make bench-quality's held-out worlds: measure on others (-bound-held-out only bounds them, once the defaults are fixed)", seed)
		}
		seeds = append(seeds, seed)
	}
	pol, err := policy.Default()
	if err != nil {
		return err
	}
	reward, err := models.DefaultReward()
	if err != nil {
		return err
	}
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: *popSeed})
	if err != nil {
		return err
	}
	contacts, err := drawContacts(pop, pol, *fitN+*evalN)
	if err != nil {
		return err
	}
	// exact expected rewards per world and contact, shared by every schema
	exp := make([][][features.NumTreatments]float64, len(seeds))
	targets := make([][]target, len(seeds))
	for k, seed := range seeds {
		w := simulation.RandomWorld(seed)
		exp[k] = make([][features.NumTreatments]float64, len(contacts))
		targets[k] = make([]target, *fitN)
		rng := rand.New(rand.NewPCG(seed, 7))
		for i := range contacts {
			exp[k][i] = w.ExpectedRewards(&contacts[i].ctx, &reward)
			if i >= *fitN {
				continue
			}
			tg := &targets[k][i]
			if !*bandit {
				tg.y, tg.shown = exp[k][i], contacts[i].eligible
				continue
			}
			t := drawTreatment(rng, contacts[i].eligible)
			r := w.Response(&contacts[i].ctx, t)
			o := r.Draw(rng)
			tg.y[t], tg.shown = reward.Reward(&o), features.TreatmentSet(0).With(t)
		}
	}
	for _, file := range strings.Split(*schemas, ",") {
		schema, err := loadSchema(strings.TrimSpace(file))
		if err != nil {
			return err
		}
		xs := make([][]features.Entry, len(contacts))
		for i := range contacts {
			if xs[i], err = schema.Extract(&contacts[i].ctx, pol.Uniform(), nil); err != nil {
				return fmt.Errorf("%s: contact %d: %w", file, i, err)
			}
		}
		var shares []float64
		for k, seed := range seeds {
			share, err := capacity(schema.Len(), xs, contacts, targets[k], exp[k], *ridge)
			if err != nil {
				return fmt.Errorf("%s: world %d: %w", file, seed, err)
			}
			shares = append(shares, share)
			if *verbose {
				fmt.Printf("%s world %d: %.3f\n", file, seed, share)
			}
		}
		fmt.Println(summary(file, schema.Len(), seeds, shares))
	}
	return nil
}

// contact is one drawn contact: its canonical context and the treatments
// the default policy leaves eligible.
type contact struct {
	ctx      features.Context
	eligible features.TreatmentSet
}

func drawContacts(pop *simulation.Population, pol *policy.Policy, n int) ([]contact, error) {
	out := make([]contact, n)
	for i := range out {
		c := pop.Contact(int64(i))
		c.Canonicalize()
		res, err := pol.Apply(&c, features.AllTreatments)
		if err != nil {
			return nil, fmt.Errorf("contact %d: %w", i, err)
		}
		out[i] = contact{ctx: c, eligible: res.Eligible}
	}
	return out, nil
}

func loadSchema(file string) (*features.Schema, error) {
	if file == "default" {
		return features.DefaultSchema()
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return features.ParseSchema(doc)
}

// target is what the fit sees of one contact: the reward of each
// treatment in shown.
type target struct {
	y     [features.NumTreatments]float64
	shown features.TreatmentSet
}

// drawTreatment draws one of the eligible treatments uniformly.
func drawTreatment(rng *rand.Rand, eligible features.TreatmentSet) features.Treatment {
	k := rng.IntN(eligible.Len())
	for _, t := range features.Treatments() {
		if eligible.Has(t) {
			if k == 0 {
				return t
			}
			k--
		}
	}
	return features.FastResolution
}

// capacity fits every treatment's model on the contacts of ts where it
// is shown and returns the share of the oracle its greedy choice earns
// on the contacts after them.
func capacity(dim int, xs [][]features.Entry, cs []contact, ts []target, exp [][features.NumTreatments]float64, ridge float64) (float64, error) {
	fitN := len(ts)
	p := dim + 1 // the bias is the last column
	var w [features.NumTreatments]*mat.VecDense
	for _, t := range features.Treatments() {
		a := mat.NewSymDense(p, nil)
		b := mat.NewVecDense(p, nil)
		rows := 0
		for i := range fitN {
			if !ts[i].shown.Has(t) {
				continue
			}
			rows++
			y := ts[i].y[t]
			x := xs[i]
			for j, e := range x {
				b.SetVec(int(e.Index), b.AtVec(int(e.Index))+e.Value*y)
				for _, f := range x[j:] {
					r, c := int(e.Index), int(f.Index)
					if r > c {
						r, c = c, r
					}
					a.SetSym(r, c, a.At(r, c)+e.Value*f.Value)
				}
				a.SetSym(int(e.Index), dim, a.At(int(e.Index), dim)+e.Value)
			}
			a.SetSym(dim, dim, a.At(dim, dim)+1)
			b.SetVec(dim, b.AtVec(dim)+y)
		}
		for j := range p { // the penalty on the weights, and 1e-9 so that a treatment never shown has a model (0)
			pen := 1e-9
			if j < dim {
				pen += ridge * float64(rows)
			}
			a.SetSym(j, j, a.At(j, j)+pen)
		}
		var ch mat.Cholesky
		if !ch.Factorize(a) {
			return 0, fmt.Errorf("%s: normal equations not positive definite", t)
		}
		w[t] = mat.NewVecDense(p, nil)
		if err := ch.SolveVecTo(w[t], b); err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
	}
	var got, best float64
	for i := fitN; i < len(cs); i++ {
		var score [features.NumTreatments]float64
		for _, t := range features.Treatments() {
			s := w[t].AtVec(dim)
			for _, e := range xs[i] {
				s += w[t].AtVec(int(e.Index)) * e.Value
			}
			score[t] = s
		}
		g, _ := simulation.Best(&score, cs[i].eligible)
		_, b := simulation.Best(&exp[i], cs[i].eligible)
		got += exp[i][g]
		best += b
	}
	return got / best, nil
}

// summary is one line per schema: features, the mean and worst share,
// and how many worlds reach 0.93 and 0.95.
func summary(file string, dim int, seeds []uint64, shares []float64) string {
	mean, worst, worstSeed, n93, n95 := 0.0, 2.0, uint64(0), 0, 0
	for k, s := range shares {
		mean += s
		if s < worst {
			worst, worstSeed = s, seeds[k]
		}
		if s >= 0.93 {
			n93++
		}
		if s >= 0.95 {
			n95++
		}
	}
	mean /= float64(len(shares))
	return fmt.Sprintf("%s: %d features: mean %.3f, worst %.3f (world %d), >= 0.93 in %d of %d, >= 0.95 in %d",
		file, dim, mean, worst, worstSeed, n93, len(shares), n95)
}
