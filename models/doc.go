// Package models is the domain of the health-code service: identity rules,
// the entities stored through GORM and the store that reads and writes them.
// Its errors are those of package fault.
package models
