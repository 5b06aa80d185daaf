package plot_test

import (
	"fmt"
	"os"

	"situ/simulation"
	"situ/simulation/plot"
)

// Draw the report `situ sim --json sim.json` wrote.
func ExampleWriteFile() {
	f, err := os.Open("sim.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	rep, err := simulation.ReadReport(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := plot.WriteFile("sim.png", rep); err != nil {
		fmt.Println(err)
	}
}
