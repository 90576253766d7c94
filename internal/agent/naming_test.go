package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultNameIsUTC(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CEST", 2*3600)
	}
	at := time.Date(2025, 7, 14, 1, 2, 3, 999, paris) // 23:02:03 the day before, in UTC
	require.Equal(t, "shop-20250713-230203", DefaultName("shop", at))
	require.True(t, validSegment(DefaultName("shop", at)))
}

func TestValidSegment(t *testing.T) {
	for _, ok := range []string{"a", "shop", "shop-20250101-000000", "Shop_1.2", "0"} {
		require.True(t, validSegment(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "-shop", "shop-", ".hidden", "a/b", "a\\b", "a b", "é", strings.Repeat("a", 256), "a\x00"} {
		require.False(t, validSegment(bad), bad)
	}
}

func TestKeys(t *testing.T) {
	require.Equal(t, "shop/", stackKey("shop"))
	require.Equal(t, "shop/n1/", backupKey("shop", "n1"))
	require.Equal(t, "shop/n1/dump.pgc", dumpKey("shop", "n1"))
	require.Equal(t, "shop/n1/manifest.json", manifestKey("shop", "n1"))
}
