package models

// PersonIdentity exposes personIdentity to the external tests.
func PersonIdentity(p *Person) *Identity { return personIdentity(p) }
