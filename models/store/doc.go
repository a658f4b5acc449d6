// Package store reads and writes the entities of package models through
// GORM, on SQLite or MySQL/MariaDB: opening the database, its migrations,
// imports, the purge and every query of the service. Its errors are those
// of package fault, and the database's.
package store
