// Package models is the domain of the health-code service: identity rules,
// the entities stored through GORM, colours and their rules, the in-memory
// books the hot paths read and the checker of codes. Package models/store
// reads and writes the entities. Its errors are those of package fault.
package models
