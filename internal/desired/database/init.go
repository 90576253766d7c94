package database

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// InitName is the ConfigMap with the first-start script.
func InitName(db *componentsv1alpha1.Database) string { return db.Name + "-postgres-init" }

// initScript runs once, when the official image initialises an empty data directory: it creates the
// application's role and database. psql's :'var' quoting carries the password, so no character in
// it can break the statement.
const initScript = `#!/bin/bash
# Created by Canopy: the application's role and database, at first start only.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=app_user="$APP_USER" --set=app_password="$APP_PASSWORD" --set=app_db="$APP_DATABASE" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
SQL
`

// InitConfigMap holds the first-start script, mounted into /docker-entrypoint-initdb.d.
func InitConfigMap(db *componentsv1alpha1.Database) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(db, InitName(db)),
		Data:       map[string]string{"10-canopy-app.sh": initScript},
	}
}
