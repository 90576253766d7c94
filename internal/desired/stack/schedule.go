package stack

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduleReference makes the interval computation deterministic: the same schedule always gives
// the same answer, whatever the date.
var scheduleReference = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// BackupMaxAge is how old the newest successful backup may get before the backup alert fires: twice
// the longest gap between two runs of the schedule (sampled over the next 60 runs). Empty when the
// schedule is empty or not a valid cron expression (the backup controller reports the latter).
func BackupMaxAge(schedule string) string {
	if schedule == "" {
		return ""
	}
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return ""
	}
	var longest time.Duration
	prev := sched.Next(scheduleReference)
	for range 60 {
		next := sched.Next(prev)
		if gap := next.Sub(prev); gap > longest {
			longest = gap
		}
		prev = next
	}
	return formatDuration(2 * longest)
}

// formatDuration writes whole hours, minutes or seconds (48h, 90m), which the CRD's duration rule
// accepts and a reader understands.
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
