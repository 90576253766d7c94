package agent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRestoreCommand(t *testing.T) {
	require.Equal(t, []string{"pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
		"--no-password", "--dbname=shop", "/work/dump.pgc"}, RestoreCommand("shop"))
	require.Contains(t, RestoreCommand(""), "--dbname=", "empty: PGDATABASE decides")
	require.Contains(t, RestoreCommand(`a=b'c\`), `--dbname=dbname='a=b\'c\\'`, "not read as a connection string")
	require.Contains(t, RestoreCommand("postgresql://evil"), "--dbname=dbname='postgresql://evil'")
}
