package manager

import (
	"fmt"
	"strconv"
)

// EnvMemoryLimit carries the container's memory limit in bytes; the Deployment sets it from the
// Downward API (resourceFieldRef limits.memory).
const EnvMemoryLimit = "CANOPY_MEMORY_LIMIT"

// memoryLimitShare is the part of the container's limit the Go heap may grow to before the
// garbage collector works harder: the rest is for stacks, the runtime and what the kernel counts.
const memoryLimitShare = 0.9

// softMemoryLimit returns the Go runtime's soft memory limit for a container limited to the bytes
// in EnvMemoryLimit, or 0 when there is none to set. Without one, the collector lets the heap grow to
// twice what is live: a manager whose cache holds many Stacks' objects would be killed by the
// kernel at the container's limit while half of its memory is garbage. GOMEMLIMIT, when the
// operator's user set it, wins (the Go runtime reads it at start).
func softMemoryLimit(getenv func(string) string) (int64, error) {
	raw := getenv(EnvMemoryLimit)
	if raw == "" || getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", EnvMemoryLimit, raw)
	}
	return int64(float64(limit) * memoryLimitShare), nil
}
