// Package pgtune derives postgresql.conf settings from the resources of the PostgreSQL container,
// in the style of pgtune and the PostgreSQL documentation, merges the user's overrides over them
// and renders the result. Everything here is pure: the database controller calls it, writes the
// rendered file and stamps its Hash on the pod template so that a new configuration rolls the pod.
// docs/tuning.md explains every formula to users; keep the two in step.
package pgtune

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Byte sizes used by the formulas.
const (
	kiB = int64(1) << 10
	miB = int64(1) << 20
	giB = int64(1) << 30
)

// DefaultMemoryBytes is the memory Tune assumes when the container has neither a memory limit nor
// a request. It is deliberately small: over-estimating memory gets the pod OOM-killed, while
// under-estimating only costs performance.
const DefaultMemoryBytes = 512 * miB

// DefaultConnections is the max_connections Tune uses when Input.Connections is not positive; it
// is the API's default for expectedConnections and PostgreSQL's own default.
const DefaultConnections = 100

// Floors and caps. They keep a tiny container startable and a huge one sensible.
const (
	// minSharedBuffers keeps shared_buffers useful in tiny containers (PostgreSQL accepts 128kB
	// but performs badly with so little).
	minSharedBuffers = 16 * miB
	// pageSize is PostgreSQL's block size: shared_buffers and wal_buffers count blocks, so their
	// values are rounded down to whole blocks to show exactly what the server will use.
	pageSize = 8 * kiB
	// minMaintenanceWorkMem is PostgreSQL's minimum for maintenance_work_mem.
	minMaintenanceWorkMem = 1 * miB
	// maxMaintenanceWorkMem: VACUUM could not use more than 1GB before PostgreSQL 17, and index
	// builds rarely benefit beyond 2GB.
	maxMaintenanceWorkMem = 2 * giB
	// minWorkMem is PostgreSQL's minimum for work_mem.
	minWorkMem = 64 * kiB
	// minWALBuffers and maxWALBuffers are the bounds PostgreSQL's own automatic sizing uses: a
	// WAL segment (16MB) is the most that can usefully be buffered.
	minWALBuffers = 64 * kiB
	maxWALBuffers = 16 * miB
	// WAL sizes when the volume size is unknown (pgtune's values for a mixed workload).
	defaultMinWALSize = 1 * giB
	defaultMaxWALSize = 4 * giB
	// minMinWALSize is two 16MB WAL segments, PostgreSQL's minimum; minMaxWALSize leaves room for
	// a few checkpoints' worth of WAL even on a very small volume.
	minMinWALSize = 32 * miB
	minMaxWALSize = 64 * miB
	// maxParallelPerTask caps the workers of one query or one index build, as pgtune does for
	// non-warehouse workloads: more workers per task rarely pay off and starve other sessions.
	maxParallelPerTask = 4
	// defaultMaxWorkerProcesses is PostgreSQL's default; Tune never lowers it because logical
	// replication and extensions (pg_cron, ...) draw background workers from the same pool.
	defaultMaxWorkerProcesses = 8
)

// Input is what Tune derives the configuration from.
type Input struct {
	// MemoryBytes is the container's memory limit (or request); 0 means unknown and Tune then
	// assumes DefaultMemoryBytes.
	MemoryBytes int64
	// CPUs is the container's CPU limit (or request) in cores; 0 means unknown. Parallel query
	// settings are derived only from 2 CPUs on.
	CPUs float64
	// Connections is the number of client connections to plan for: it becomes max_connections.
	Connections int32
	// StorageBytes is the size of the data volume; 0 means unknown. It bounds the WAL size.
	StorageBytes int64
	// Version of PostgreSQL, such as "17" or "16.4". Every setting Tune derives has the same name
	// and meaning in PostgreSQL 13 and later, so it does not change the result today; it is part
	// of the input so that a version-specific rule has a place to go.
	Version string
}

// Setting is one postgresql.conf parameter; Value is PostgreSQL's text form, without quotes.
type Setting struct {
	Name  string
	Value string
}

// Settings is a postgresql.conf as a list of parameters sorted by name (each name once), so that
// rendering and hashing are deterministic.
type Settings []Setting

// Get returns the value of the named parameter and whether it is set. It relies on s being sorted
// by name, as Tune and Merge return it.
func (s Settings) Get(name string) (string, bool) {
	i, found := slices.BinarySearchFunc(s, name, func(e Setting, n string) int { return strings.Compare(e.Name, n) })
	if !found {
		return "", false
	}
	return s[i].Value, true
}

// Tune derives a postgresql.conf from the container's resources. It is pure and deterministic; the
// formulas are documented in docs/tuning.md.
func Tune(in Input) Settings {
	mem := in.MemoryBytes
	if mem <= 0 {
		mem = DefaultMemoryBytes
	}
	conns := int64(in.Connections)
	if conns <= 0 {
		conns = DefaultConnections
	}
	shared := sharedBuffers(mem)

	m := map[string]string{
		"max_connections":      strconv.FormatInt(conns, 10),
		"shared_buffers":       formatMemory(shared),
		"effective_cache_size": formatMemory(effectiveCacheSize(mem, shared)),
		"maintenance_work_mem": formatMemory(maintenanceWorkMem(mem)),
		"work_mem":             formatMemory(workMem(mem, shared, conns)),
		"wal_buffers":          formatMemory(walBuffers(shared)),
		// Spread checkpoint writes over 90% of the interval (the default from PostgreSQL 14 on;
		// written out so that 13 behaves the same).
		"checkpoint_completion_target": "0.9",
		// Cloud and cluster volumes are SSD-like: random reads cost little more than sequential.
		"random_page_cost": "1.1",
		// SSDs serve many concurrent requests; this lets bitmap heap scans prefetch.
		"effective_io_concurrency": "200",
		// PostgreSQL's default, written out so that the whole planner input is visible.
		"default_statistics_target": "100",
		// Containers rarely get huge pages, and with "try" PostgreSQL can be killed by SIGBUS when
		// the huge page cgroup limit is reached instead of falling back to normal pages.
		"huge_pages": "off",
	}
	minWAL, maxWAL := walSizes(in.StorageBytes)
	m["min_wal_size"] = formatMemory(minWAL)
	m["max_wal_size"] = formatMemory(maxWAL)
	maps.Copy(m, parallelSettings(in.CPUs))
	return fromMap(m)
}

// sharedBuffers is 25% of memory, the PostgreSQL documentation's starting point: the rest is left
// to the operating system's page cache, which PostgreSQL relies on as a second cache level.
func sharedBuffers(mem int64) int64 {
	return roundDown(max(mem/4, minSharedBuffers), pageSize)
}

// effectiveCacheSize is 75% of memory: shared_buffers plus the page cache the kernel is likely to
// keep. It only informs the planner; nothing is allocated.
func effectiveCacheSize(mem, shared int64) int64 {
	return roundDown(max(mem/4*3, shared), kiB)
}

// maintenanceWorkMem is memory/16 for VACUUM and index builds; autovacuum workers may each use
// it, hence the cap.
func maintenanceWorkMem(mem int64) int64 {
	return roundDown(min(max(mem/16, minMaintenanceWorkMem), maxMaintenanceWorkMem), kiB)
}

// workMem is (memory - shared_buffers) / (connections * 3): each connection may run a few
// sorts or hashes at once, each allowed work_mem, and they must fit beside shared_buffers.
func workMem(mem, shared, conns int64) int64 {
	return roundDown(max((mem-shared)/(conns*3), minWorkMem), kiB)
}

// walBuffers is 3% of shared_buffers, within PostgreSQL's own automatic bounds.
func walBuffers(shared int64) int64 {
	return roundDown(min(max(shared*3/100, minWALBuffers), maxWALBuffers), pageSize)
}

// walSizes returns min_wal_size and max_wal_size. WAL can grow beyond max_wal_size between
// checkpoints, so on a known volume max_wal_size is a quarter of it (at most 4GB) to keep the
// volume from filling with WAL; min_wal_size, the WAL kept for reuse, is a quarter of that.
func walSizes(storage int64) (minWAL, maxWAL int64) {
	if storage <= 0 {
		return defaultMinWALSize, defaultMaxWALSize
	}
	maxWAL = roundDown(min(max(storage/4, minMaxWALSize), defaultMaxWALSize), miB)
	minWAL = roundDown(min(max(maxWAL/4, minMinWALSize), defaultMinWALSize), miB)
	return minWAL, maxWAL
}

// parallelSettings sizes parallel query from whole CPUs (a limit of 2.5 allows 2 busy workers).
// With fewer than 2 CPUs PostgreSQL's defaults are kept.
func parallelSettings(cpus float64) map[string]string {
	if !(cpus >= 2) { // also false for NaN
		return nil
	}
	n := int64(cpus)
	perTask := min((n+1)/2, maxParallelPerTask)
	return map[string]string{
		"max_worker_processes":             strconv.FormatInt(max(n, defaultMaxWorkerProcesses), 10),
		"max_parallel_workers":             strconv.FormatInt(n, 10),
		"max_parallel_workers_per_gather":  strconv.FormatInt(perTask, 10),
		"max_parallel_maintenance_workers": strconv.FormatInt(perTask, 10),
	}
}

// roundDown rounds n down to a multiple of unit.
func roundDown(n, unit int64) int64 {
	return n / unit * unit
}

// formatMemory writes a byte count, rounded down to whole kB, in the largest of PostgreSQL's
// units (kB, MB, GB; 1024-based) that keeps the number whole: 256MB, not 262144kB.
func formatMemory(bytes int64) string {
	kb := bytes / kiB
	switch {
	case kb > 0 && kb%(1<<20) == 0:
		return strconv.FormatInt(kb>>20, 10) + "GB"
	case kb > 0 && kb%(1<<10) == 0:
		return strconv.FormatInt(kb>>10, 10) + "MB"
	default:
		return strconv.FormatInt(kb, 10) + "kB"
	}
}

// fromMap returns the settings of m sorted by name.
func fromMap(m map[string]string) Settings {
	s := make(Settings, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s = append(s, Setting{Name: name, Value: m[name]})
	}
	return s
}

// Merge returns tuned with the user's overrides applied: an override replaces the tuned value of
// the same name, and names Tune does not set are added. The result is sorted by name; neither
// argument is modified. Values are taken as they are (PostgreSQL checks them when it starts).
func Merge(tuned Settings, overrides map[string]string) Settings {
	m := make(map[string]string, len(tuned)+len(overrides))
	for _, s := range tuned {
		m[s.Name] = s.Value
	}
	maps.Copy(m, overrides)
	return fromMap(m)
}

// header opens every rendered file: whoever reads the file in the pod learns where it comes from
// and where to change it.
const header = `# postgresql.conf generated by Canopy from the container's resources; do not edit.
# Overrides in the Database's spec.parameters (a Stack's spec.database.parameters) win over the
# tuned values. See docs/tuning.md.
`

// Render writes s as postgresql.conf text: the header, then one name = 'value' line per setting,
// sorted by name. Values are quoted by quote. A name is written only when Refused has nothing
// against it: admission refuses such names already, and an object that bypassed admission must
// not put a directive or a command into the file either, so they are left out.
func Render(s Settings) string {
	var b strings.Builder
	b.WriteString(header)
	for _, e := range slices.SortedFunc(slices.Values(s), func(a, b Setting) int { return strings.Compare(a.Name, b.Name) }) {
		if Refused(e.Name, e.Value) != "" {
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", e.Name, quote(e.Value))
	}
	return b.String()
}

// Parameters a user can never set (the API refuses them with the same lists; keep the CEL rules
// on spec.parameters in apis/ in step, a test compares them). The include directives read other
// files as configuration; the commands are run by a shell in the database's pod; a library path
// loads code from anywhere in the pod's file system.
var (
	// Directives are include lines, not parameters.
	Directives = []string{"include", "include_dir", "include_if_exists"}
	// Commands are parameters whose value PostgreSQL runs with a shell, and the library search path.
	Commands = []string{"archive_command", "archive_cleanup_command", "recovery_end_command", "restore_command",
		"ssl_passphrase_command", "dynamic_library_path"}
	// Libraries load shared libraries by name from PostgreSQL's library folder; a '/' would make
	// the value a path.
	Libraries = []string{"shared_preload_libraries", "local_preload_libraries", "session_preload_libraries",
		"archive_library", "jit_provider"}
)

// Refused says why a parameter cannot be written into postgresql.conf, or "" when it can: its name
// must be a PostgreSQL setting name (lower case letters, digits, '_' and '.', starting with a
// letter), not a directive nor a command, and a library must be a name, not a path.
func Refused(name, value string) string {
	switch {
	case !validName(name):
		return fmt.Sprintf("%q is not a PostgreSQL setting name", name)
	case slices.Contains(Directives, name):
		return fmt.Sprintf("%s is an include directive", name)
	case slices.Contains(Commands, name):
		return fmt.Sprintf("%s runs a command or loads code from a path", name)
	case slices.Contains(Libraries, name) && strings.Contains(value, "/"):
		return fmt.Sprintf("%s must name libraries, not paths", name)
	}
	return ""
}

// validName is the API's rule for parameter names: ^[a-z][a-z0-9_.]*$.
func validName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// quote returns v as a single-quoted postgresql.conf string. The configuration file treats
// backslashes in quoted strings as escapes (unlike standard SQL strings), so quotes are doubled,
// backslashes doubled, and newlines and carriage returns, which a quoted string cannot span, are
// written as \n and \r. NUL bytes are dropped: PostgreSQL strings cannot hold them. Other bytes,
// including non-ASCII text, are copied as they are.
func quote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('\'')
	for i := range len(v) {
		switch c := v[i]; c {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0: // dropped
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Hash returns the first 16 hex characters of the SHA-256 of a rendered configuration. The
// controller stamps it on the pod template, so any change of the configuration rolls the pod.
func Hash(conf string) string {
	sum := sha256.Sum256([]byte(conf))
	return hex.EncodeToString(sum[:])[:16]
}
