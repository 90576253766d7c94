package agent

import "strings"

// RestoreCommand is what a restore Job runs after "canopy agent restore" succeeded: pg_restore of
// <WorkDir>/dump.pgc into database, the connection (host, port, user, password) coming from the
// standard PG* variables. The restore is one transaction (--single-transaction, --exit-on-error):
// it applies whole or not at all. --clean --if-exists replaces the objects the dump holds, and
// --no-owner gives them to the connecting user, as the dump's owners may not exist here.
// An empty database leaves the name to PGDATABASE.
func RestoreCommand(database string) []string {
	return []string{
		"pg_restore",
		"--clean", "--if-exists", "--no-owner",
		"--single-transaction", "--exit-on-error",
		"--no-password",
		"--dbname=" + dbnameArg(database),
		WorkDir + "/" + DumpFile,
	}
}

// dbnameArg protects a database name that pg_restore would otherwise read as a connection string
// (one with '=' or a postgres:// URI) by turning it into one: dbname='...'.
func dbnameArg(database string) string {
	if !strings.Contains(database, "=") && !strings.HasPrefix(database, "postgres://") && !strings.HasPrefix(database, "postgresql://") {
		return database
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(database)
	return "dbname='" + quoted + "'"
}
