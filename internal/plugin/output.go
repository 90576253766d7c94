package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// printData writes v as JSON or YAML for -o json|yaml; it returns false for the human format.
func (o *Options) printData(v any) (bool, error) {
	switch o.Output {
	case "json":
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return true, enc.Encode(v)
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = o.Out.Write(data)
		return true, err
	}
	return false, nil
}

// style colours text for a terminal; with colour off every method returns its text unchanged.
type style struct{ on bool }

func (o *Options) style() style {
	switch o.Color {
	case "always":
		return style{on: true}
	case "never":
		return style{}
	}
	return style{on: os.Getenv("NO_COLOR") == "" && isTerminal(o.Out)}
}

func (s style) paint(code, text string) string {
	if !s.on || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) good(t string) string { return s.paint("32", t) }
func (s style) bad(t string) string  { return s.paint("31", t) }
func (s style) warn(t string) string { return s.paint("33", t) }
func (s style) bold(t string) string { return s.paint("1", t) }
func (s style) dim(t string) string  { return s.paint("2", t) }

// state paints a readiness word: green when fine, red when failed, yellow while waiting.
func (s style) state(ok, failed bool, t string) string {
	switch {
	case ok:
		return s.good(t)
	case failed:
		return s.bad(t)
	}
	return s.warn(t)
}

// age is a short duration like kubectl's AGE column: 45s, 12m, 5h, 3d.
func age(now, then time.Time) string {
	if then.IsZero() {
		return "-"
	}
	d := now.Sub(then)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// size is a byte count in binary units, as kubectl prints quantities.
func size(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(b)/float64(div), "KMGTPE"[exp])
}

// table writes rows with columns padded to the widest cell, like kubectl get. paint, when not
// nil, colours a cell after padding, so escape codes never shift the columns.
func table(w io.Writer, indent string, rows [][]string, paint func(row, col int, cell string) string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for ri, r := range rows {
		line := indent
		for i, c := range r {
			cell := c
			if i < len(r)-1 {
				cell += strings.Repeat(" ", widths[i]-len([]rune(c))+2)
			}
			if paint != nil {
				cell = strings.Replace(cell, c, paint(ri, i, c), 1)
			}
			line += cell
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}
