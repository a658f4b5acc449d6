package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
)

// migration is one versioned schema change. Each migration declares the
// tables it creates with its own frozen struct types, so later changes to
// the entities never rewrite history.
type migration struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB) error
}

// schemaMigration records an applied migration.
type schemaMigration struct {
	Version   int    `gorm:"primaryKey;autoIncrement:false"`
	Name      string `gorm:"size:200;not null"`
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Frozen table shapes of migration 1.
type (
	m1Person struct {
		ID         string `gorm:"primaryKey;size:32"`
		DocType    string `gorm:"size:32;not null"`
		DocHash    []byte `gorm:"size:32;not null;uniqueIndex:idx_persons_doc_hash"`
		NameSealed []byte `gorm:"size:512;not null"`
		DocSealed  []byte `gorm:"size:512;not null"`
		MaskedName string `gorm:"size:128;not null"`
		MaskedDoc  string `gorm:"size:64;not null"`
		BirthDate  string `gorm:"size:10;not null"`
		CreatedAt  time.Time
		UpdatedAt  time.Time
	}
	m1Account struct {
		ID             string  `gorm:"primaryKey;size:32"`
		Platform       string  `gorm:"size:16;not null;uniqueIndex:idx_accounts_platform_user,priority:1"`
		PlatformUserID string  `gorm:"size:128;not null;uniqueIndex:idx_accounts_platform_user,priority:2"`
		UnionID        string  `gorm:"size:128;not null;index:idx_accounts_union_id"`
		PersonID       *string `gorm:"size:32;index:idx_accounts_person_id"`
		SessionVersion int64   `gorm:"not null"`
		FaceVerifiedOn string  `gorm:"size:10;not null"`
		CreatedAt      time.Time
		UpdatedAt      time.Time
	}
	m1AuditEntry struct {
		ID        uint64    `gorm:"primaryKey;autoIncrement"`
		At        time.Time `gorm:"not null;index:idx_audit_log_at"`
		Actor     string    `gorm:"size:64;not null;index:idx_audit_log_actor"`
		Action    string    `gorm:"size:64;not null;index:idx_audit_log_action"`
		Subject   string    `gorm:"size:64;not null;index:idx_audit_log_subject"`
		Detail    string    `gorm:"size:1024;not null"`
		RequestID string    `gorm:"size:64;not null"`
	}
)

// Frozen table shapes of migration 2.
type (
	m2Account struct {
		SessionKeySealed []byte  `gorm:"size:512"`
		PendingPersonID  *string `gorm:"size:32"`
		PhoneSealed      []byte  `gorm:"size:512"`
		MaskedPhone      string  `gorm:"size:32;not null;default:''"`
	}
	m2FaceVerification struct {
		ID          string    `gorm:"primaryKey;size:32"`
		VerifyID    string    `gorm:"size:128;not null;uniqueIndex:idx_face_verifications_verify_id"`
		Provider    string    `gorm:"size:16;not null"`
		AccountID   string    `gorm:"size:32;not null;index:idx_face_verifications_account_id"`
		PersonID    string    `gorm:"size:32;not null"`
		Status      string    `gorm:"size:16;not null"`
		Detail      string    `gorm:"size:128;not null"`
		ExpiresAt   time.Time `gorm:"not null"`
		CompletedAt *time.Time
		CreatedAt   time.Time
	}
	m2SessionRevocation struct {
		ID        uint64    `gorm:"primaryKey;autoIncrement"`
		AccountID string    `gorm:"size:32;not null"`
		Version   int64     `gorm:"not null"`
		CreatedAt time.Time `gorm:"not null;index:idx_session_revocations_created_at"`
	}
)

// Frozen table shapes of migration 3.
type (
	m3StatusEntry struct {
		ID       uint64 `gorm:"primaryKey;autoIncrement"`
		Source   string `gorm:"size:16;not null;index:idx_status_entries_source"`
		DocHash  []byte `gorm:"size:32;not null;index:idx_status_entries_doc_hash"`
		Colour   string `gorm:"size:8;not null"`
		Reason   string `gorm:"size:256;not null"`
		ImportID string `gorm:"size:32;not null"`
	}
	m3StatusImport struct {
		ID        string `gorm:"primaryKey;size:32"`
		Source    string `gorm:"size:16;not null"`
		Rows      int    `gorm:"not null"`
		Actor     string `gorm:"size:64;not null"`
		CreatedAt time.Time
	}
	m3DataVersion struct {
		Name      string `gorm:"primaryKey;size:32"`
		Version   int64  `gorm:"not null"`
		UpdatedAt time.Time
	}
	m3Verifier struct {
		AccountID string `gorm:"primaryKey;size:32"`
		Place     string `gorm:"size:400;not null"`
		GrantedBy string `gorm:"size:64;not null"`
		GrantedAt time.Time
		RevokedAt *time.Time
	}
	m3Verification struct {
		ID                uint64    `gorm:"primaryKey;autoIncrement"`
		VerifierAccountID string    `gorm:"size:32;not null;index:idx_verifications_verifier"`
		HolderHandle      string    `gorm:"size:32;not null;index:idx_verifications_holder"`
		Result            string    `gorm:"size:16;not null"`
		Reason            string    `gorm:"size:64;not null"`
		Colour            string    `gorm:"size:8;not null"`
		Kind              string    `gorm:"size:16;not null"`
		Place             string    `gorm:"size:400;not null"`
		CodeID            string    `gorm:"size:64;not null"`
		CheckedAt         time.Time `gorm:"not null;index:idx_verifications_checked_at"`
	}
	m3H5Ticket struct {
		ID         string `gorm:"primaryKey;size:64"`
		AccountID  string `gorm:"size:32;not null"`
		Purpose    string `gorm:"size:16;not null"`
		RelativeID string `gorm:"size:32;not null"`
		ExpiresAt  time.Time
		UsedAt     *time.Time
		CreatedAt  time.Time
	}
)

// Frozen table shapes of migration 4.
type (
	m4Relative struct {
		ID          string `gorm:"primaryKey;size:32"`
		AccountID   string `gorm:"size:32;not null;index:idx_relatives_account_id"`
		PersonID    string `gorm:"size:32;not null;index:idx_relatives_person_id"`
		Relation    string `gorm:"size:16;not null"`
		Status      string `gorm:"size:16;not null;index:idx_relatives_status_created,priority:1"`
		Evidence    string `gorm:"size:16;not null"`
		ReviewDueAt *time.Time
		DecidedAt   *time.Time
		DecidedBy   string    `gorm:"size:64;not null"`
		Note        string    `gorm:"size:2000;not null"`
		CreatedAt   time.Time `gorm:"index:idx_relatives_status_created,priority:2"`
		UpdatedAt   time.Time
	}
	m4HouseholdMember struct {
		ID            uint64 `gorm:"primaryKey;autoIncrement"`
		HouseholdHash []byte `gorm:"size:32;not null;index:idx_household_members_household"`
		DocHash       []byte `gorm:"size:32;not null;index:idx_household_members_doc"`
	}
	m4BirthRecord struct {
		ID            uint64 `gorm:"primaryKey;autoIncrement"`
		CertHash      []byte `gorm:"size:32;not null;index:idx_birth_records_cert"`
		ChildDocHash  []byte `gorm:"size:32;index:idx_birth_records_child"`
		ParentDocHash []byte `gorm:"size:32;not null;index:idx_birth_records_parent"`
	}
)

// Frozen table shapes of migration 5.
type m5Person struct {
	NameVerifiedAt *time.Time
}

// Frozen table shape of migration 6: the one secondary index verifications
// keep.
type m6Verification struct {
	HolderHandle string    `gorm:"size:32;not null;index:idx_verifications_holder_time,priority:1"`
	CheckedAt    time.Time `gorm:"not null;index:idx_verifications_holder_time,priority:2"`
}

// Frozen table shapes of migration 7: identity claims, which bind nothing
// until a face verification started for them passes.
type (
	m7IdentityClaim struct {
		ID         string    `gorm:"primaryKey;size:32"`
		AccountID  string    `gorm:"size:32;not null;index:idx_identity_claims_account_id"`
		DocType    string    `gorm:"size:32;not null"`
		DocHash    []byte    `gorm:"size:32;not null"`
		NameSealed []byte    `gorm:"size:512;not null"`
		DocSealed  []byte    `gorm:"size:512;not null"`
		MaskedName string    `gorm:"size:128;not null"`
		MaskedDoc  string    `gorm:"size:64;not null"`
		BirthDate  string    `gorm:"size:10;not null"`
		CreatedAt  time.Time `gorm:"not null;index:idx_identity_claims_created_at"`
	}
	m7Account struct {
		ClaimID *string `gorm:"size:32;index:idx_accounts_claim_id"`
	}
	m7FaceVerification struct {
		ClaimID string `gorm:"size:32;not null;default:''"`
	}
)

// Frozen table shapes of migration 8: the time columns the purge reads
// expired rows by.
type (
	m8H5Ticket struct {
		ExpiresAt time.Time `gorm:"index:idx_h5_tickets_expires_at"`
	}
	m8FaceVerification struct {
		CreatedAt time.Time `gorm:"index:idx_face_verifications_created_at"`
	}
)

// Frozen shapes and data of migration 9.
type m9AuditEntry struct {
	ClientRequestID string `gorm:"size:64;not null;default:''"`
}

// m9Column is a string column as the migrations before 9 made it
// (client_request_id as 9 adds it): VARCHAR(size), NULL when nullable, the
// empty string as default when emptyDefault.
type m9Column struct {
	name         string
	size         int
	nullable     bool
	emptyDefault bool
}

// m9Identifiers are the columns holding identifiers (ids, handles, platform
// user ids, actors and subjects naming accounts) that migration 9 makes
// compare byte for byte on MySQL.
var m9Identifiers = []struct {
	table   string
	columns []m9Column
}{
	{"accounts", []m9Column{{"id", 32, false, false}, {"platform", 16, false, false}, {"platform_user_id", 128, false, false},
		{"union_id", 128, false, false}, {"person_id", 32, true, false}, {"pending_person_id", 32, true, false},
		{"claim_id", 32, true, false}}},
	{"persons", []m9Column{{"id", 32, false, false}}},
	{"identity_claims", []m9Column{{"id", 32, false, false}, {"account_id", 32, false, false}}},
	{"audit_log", []m9Column{{"actor", 64, false, false}, {"subject", 64, false, false}, {"request_id", 64, false, false},
		{"client_request_id", 64, false, true}}},
	{"face_verifications", []m9Column{{"id", 32, false, false}, {"verify_id", 128, false, false}, {"account_id", 32, false, false},
		{"person_id", 32, false, false}, {"claim_id", 32, false, true}}},
	{"session_revocations", []m9Column{{"account_id", 32, false, false}}},
	{"status_entries", []m9Column{{"import_id", 32, false, false}}},
	{"status_imports", []m9Column{{"id", 32, false, false}, {"actor", 64, false, false}}},
	{"verifiers", []m9Column{{"account_id", 32, false, false}, {"granted_by", 64, false, false}}},
	{"verifications", []m9Column{{"verifier_account_id", 32, false, false}, {"holder_handle", 32, false, false}, {"code_id", 64, false, false}}},
	{"h5_tickets", []m9Column{{"id", 64, false, false}, {"account_id", 32, false, false}, {"relative_id", 32, false, false}}},
	{"relatives", []m9Column{{"id", 32, false, false}, {"account_id", 32, false, false}, {"person_id", 32, false, false},
		{"decided_by", 64, false, false}}},
}

// m9BinaryIdentifiers alters each table's identifier columns to utf8mb4_bin,
// one statement a table, keeping type, nullability and every index (MySQL
// rebuilds the indexes under the new collation).
func m9BinaryIdentifiers(tx *gorm.DB) error {
	for _, t := range m9Identifiers {
		clauses := make([]string, 0, len(t.columns))
		for _, c := range t.columns {
			null := "NOT NULL"
			if c.nullable {
				null = "NULL"
			}
			def := ""
			if c.emptyDefault {
				def = " DEFAULT ''"
			}
			clauses = append(clauses, fmt.Sprintf("MODIFY `%s` VARCHAR(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin %s%s", c.name, c.size, null, def))
		}
		if err := tx.Exec("ALTER TABLE `" + t.table + "` " + strings.Join(clauses, ", ")).Error; err != nil {
			return fmt.Errorf("make %s's identifiers binary: %w", t.table, err)
		}
	}
	return nil
}

// m9MaskDocument re-masks a document masked by the first rule (first and
// last two characters shown) by the rule of migration 9: a number shorter
// than 18 characters shows at most a third of its characters and at most
// four. Every character it keeps was already shown, so it needs no key.
func m9MaskDocument(old string) string {
	runes := []rune(old)
	if len(runes) >= 18 {
		return old
	}
	visible := min(4, len(runes)/3)
	head, tail := (visible+1)/2, visible/2
	return string(runes[:head]) + strings.Repeat("*", len(runes)-head-tail) + string(runes[len(runes)-tail:])
}

// m9RemaskDocuments applies m9MaskDocument to the masked documents shorter
// than 18 characters stored in table (persons, identity_claims), a thousand
// rows at a time.
func m9RemaskDocuments(tx *gorm.DB, table string) error {
	last := ""
	for {
		var batch []struct {
			ID        string
			MaskedDoc string
		}
		err := tx.Table(table).Select("id, masked_doc").Where("id > ? AND LENGTH(masked_doc) < 18", last).
			Order("id").Limit(1000).Find(&batch).Error
		if err != nil {
			return fmt.Errorf("read masked documents of %s: %w", table, err)
		}
		for _, p := range batch {
			if masked := m9MaskDocument(p.MaskedDoc); masked != p.MaskedDoc {
				if err := tx.Table(table).Where("id = ?", p.ID).Update("masked_doc", masked).Error; err != nil {
					return fmt.Errorf("re-mask a document in %s: %w", table, err)
				}
			}
		}
		if len(batch) < 1000 {
			return nil
		}
		last = batch[len(batch)-1].ID
	}
}

// Frozen table shapes of migration 10: everyone's status in memory, kept
// current by an ordered change log.
type (
	m10PersonNumber struct {
		No uint64 `gorm:"primaryKey;autoIncrement"`
	}
	m10Person struct {
		No uint32 `gorm:"not null;default:0"`
	}
	m10PersonStatus struct {
		PersonNo      uint32 `gorm:"primaryKey;autoIncrement:false"`
		Colour        string `gorm:"size:8;not null"`
		Source        string `gorm:"size:16;not null"`
		Reason        string `gorm:"size:256;not null"`
		NucleicResult string `gorm:"size:16;not null"`
		SampledAt     *time.Time
		Seq           uint64 `gorm:"not null"`
	}
	m10StatusChange struct {
		Seq           uint64 `gorm:"primaryKey;autoIncrement"`
		PersonNo      uint32 `gorm:"not null"`
		Colour        string `gorm:"size:8;not null"`
		Source        string `gorm:"size:16;not null"`
		Reason        string `gorm:"size:256;not null"`
		NucleicResult string `gorm:"size:16;not null"`
		SampledAt     *time.Time
		At            time.Time `gorm:"not null;index:idx_status_changes_at"`
	}
)

// m10Number gives every person recorded before migration 10 a dense number,
// oldest first, and logs the status the lists give them.
func m10Number(tx *gorm.DB) error {
	type person struct {
		ID      string
		No      uint32
		DocHash []byte
	}
	// By primary key, a thousand at a time: a range read however many
	// people there are, and a run stopped half-way goes on where it was.
	for last := ""; ; {
		var batch []person
		if err := tx.Table("persons").Select("id, no, doc_hash").Where("id > ?", last).Order("id").Limit(1000).Find(&batch).Error; err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		last = batch[len(batch)-1].ID
		for _, p := range batch {
			if p.No != 0 {
				continue
			}
			n := m10PersonNumber{}
			if err := tx.Table("person_numbers").Create(&n).Error; err != nil {
				return err
			}
			if err := tx.Table("persons").Where("id = ?", p.ID).Update("no", n.No).Error; err != nil {
				return err
			}
			var worst struct {
				Colour, Source, Reason string
			}
			// The worst colour wins: red before yellow.
			err := tx.Table("status_entries").Select("colour, source, reason").
				Where("doc_hash = ? AND colour IN ('red', 'yellow')", p.DocHash).
				Order("CASE colour WHEN 'red' THEN 0 ELSE 1 END").Limit(1).Scan(&worst).Error
			if err != nil {
				return err
			}
			if worst.Colour == "" {
				continue
			}
			var seq uint64
			if err := tx.Table("status_changes").Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error; err != nil {
				return err
			}
			ch := m10StatusChange{Seq: seq + 1, PersonNo: uint32(n.No), Colour: worst.Colour, Source: worst.Source, Reason: worst.Reason, At: time.Now().UTC()}
			if err := tx.Table("status_changes").Create(&ch).Error; err != nil {
				return err
			}
			st := m10PersonStatus{PersonNo: ch.PersonNo, Colour: ch.Colour, Source: ch.Source, Reason: ch.Reason, Seq: ch.Seq}
			if err := tx.Table("person_status").Create(&st).Error; err != nil {
				return err
			}
		}
	}
}

// Frozen table shapes of migration 11: imports as jobs.
type (
	m11ImportJob struct {
		ID          string `gorm:"primaryKey;size:32"`
		Source      string `gorm:"size:16;not null"`
		State       string `gorm:"size:16;not null;index:idx_import_jobs_state_updated,priority:1"`
		Clear       bool   `gorm:"not null"`
		RowsRead    int64  `gorm:"not null"`
		RowsApplied int64  `gorm:"not null"`
		BadRows     int64  `gorm:"not null"`
		Problems    string `gorm:"type:text;not null"`
		Message     string `gorm:"size:512;not null"`
		Switched    bool   `gorm:"not null"`
		PrevImport  string `gorm:"size:32;not null"`
		Phase       int    `gorm:"not null"`
		Cursor      uint64 `gorm:"not null"`
		Actor       string `gorm:"size:64;not null"`
		RequestID   string `gorm:"size:64;not null"`
		Runner      string `gorm:"size:32;not null"`
		CreatedAt   time.Time
		UpdatedAt   time.Time `gorm:"index:idx_import_jobs_state_updated,priority:2"`
		FinishedAt  *time.Time
	}
	m11StatusSource struct {
		Source    string `gorm:"primaryKey;size:16"`
		ImportID  string `gorm:"size:32;not null"`
		UpdatedAt time.Time
	}
	m11StatusEntry struct {
		ImportID string `gorm:"size:32;not null;index:idx_status_entries_import"`
	}
)

// Frozen table shapes of migration 12: registers replaced by generations.
type (
	m12RegisterRow struct {
		Generation string `gorm:"size:32;not null;default:''"`
	}
	m12RegisterGeneration struct {
		Name       string `gorm:"primaryKey;size:16"`
		Generation string `gorm:"size:32;not null"`
		UpdatedAt  time.Time
	}
)

// Frozen table shapes of migration 13: the sampling point.
type (
	m13Sampler struct {
		AccountID string `gorm:"primaryKey;size:32"`
		Site      string `gorm:"size:400;not null"`
		GrantedBy string `gorm:"size:64;not null"`
		GrantedAt time.Time
		RevokedAt *time.Time
	}
	m13Tube struct {
		Tube             string    `gorm:"primaryKey;size:20"`
		Mode             int       `gorm:"not null"`
		Site             string    `gorm:"size:400;not null"`
		SamplerAccountID string    `gorm:"size:32;not null;index:idx_sampling_tubes_sampler_opened,priority:1"`
		Count            int       `gorm:"not null"`
		State            string    `gorm:"size:16;not null"`
		Short            bool      `gorm:"not null"`
		OpenedAt         time.Time `gorm:"index:idx_sampling_tubes_sampler_opened,priority:2"`
		SealedAt         *time.Time
		Result           string `gorm:"size:16;not null;default:''"`
		TestedAt         *time.Time
	}
	m13Sample struct {
		SampleID         string    `gorm:"primaryKey;size:64"`
		Tube             string    `gorm:"size:20;not null;uniqueIndex:idx_samples_tube_person,priority:1"`
		Position         int       `gorm:"not null"`
		PersonID         string    `gorm:"size:32;not null;uniqueIndex:idx_samples_tube_person,priority:2;index:idx_samples_person_sampled,priority:1"`
		PersonNo         uint32    `gorm:"not null"`
		MaskedName       string    `gorm:"size:128;not null"`
		MaskedDoc        string    `gorm:"size:64;not null"`
		Site             string    `gorm:"size:400;not null"`
		SamplerAccountID string    `gorm:"size:32;not null"`
		Method           string    `gorm:"size:16;not null"`
		Resampled        bool      `gorm:"not null"`
		SampledAt        time.Time `gorm:"index:idx_samples_person_sampled,priority:2"`
	}
)

// Frozen table shapes of migration 14: lab results.
type (
	m14NucleicResult struct {
		PersonNo  uint32 `gorm:"primaryKey;autoIncrement:false"`
		Result    string `gorm:"size:16;not null"`
		Tube      string `gorm:"size:20;not null"`
		SampledAt time.Time
		TestedAt  time.Time
	}
	m14Tested struct {
		TestedAt *time.Time
	}
	m14ImportJob struct {
		Kind string `gorm:"size:16;not null;default:''"`
	}
)

// Frozen table shapes of migration 16: venues and their check-ins.
type (
	m16Venue struct {
		ID                 string `gorm:"primaryKey;size:32"`
		RegistrarAccountID string `gorm:"size:32;not null;index:idx_venues_registrar"`
		RegistrarPersonNo  uint32 `gorm:"not null"`
		Name               string `gorm:"size:400;not null"`
		Address            string `gorm:"size:400;not null"`
		District           string `gorm:"size:6;not null"`
		Kind               string `gorm:"size:16;not null"`
		CreditCode         string `gorm:"size:18;not null"`
		State              string `gorm:"size:16;not null;index:idx_venues_state_created,priority:1"`
		Generation         int64  `gorm:"not null"`
		CodeIssuedAt       time.Time
		Rev                int64  `gorm:"not null;default:0;index:idx_venues_rev"`
		ReviewNote         string `gorm:"size:2000;not null;default:''"`
		DecidedBy          string `gorm:"size:64;not null;default:''"`
		DecidedAt          *time.Time
		CreatedAt          time.Time `gorm:"index:idx_venues_state_created,priority:2"`
		EndedAt            *time.Time
	}
	m16VenueDeputy struct {
		VenueID   string `gorm:"primaryKey;size:32"`
		AccountID string `gorm:"primaryKey;size:32;index:idx_venue_deputies_account"`
		AddedBy   string `gorm:"size:32;not null"`
		AddedAt   time.Time
	}
	m16CheckIn struct {
		ID          string    `gorm:"primaryKey;size:32"`
		VisitID     string    `gorm:"size:32;not null;index:idx_check_ins_visit"`
		VenueID     string    `gorm:"size:32;not null;index:idx_check_ins_venue_time,priority:1"`
		AccountID   string    `gorm:"size:32;not null"`
		PersonID    string    `gorm:"size:32;not null"`
		PersonNo    uint32    `gorm:"not null"`
		MaskedName  string    `gorm:"size:128;not null"`
		MaskedDoc   string    `gorm:"size:64;not null"`
		Colour      string    `gorm:"size:8;not null"`
		CheckedInAt time.Time `gorm:"index:idx_check_ins_venue_time,priority:2;index:idx_check_ins_time"`
	}
)

// migrations lists every schema change in order. Append; never edit one that
// has shipped.
var migrations = []migration{
	{1, "create persons, accounts and audit_log", func(tx *gorm.DB) error {
		return createTables(tx, map[string]any{
			"persons": &m1Person{}, "accounts": &m1Account{}, "audit_log": &m1AuditEntry{},
		})
	}},
	{2, "add login sessions, pending identities, phones and face verifications", func(tx *gorm.DB) error {
		for _, col := range []string{"SessionKeySealed", "PendingPersonID", "PhoneSealed", "MaskedPhone"} {
			if err := tx.Table("accounts").Migrator().AddColumn(&m2Account{}, col); err != nil {
				return fmt.Errorf("add accounts.%s: %w", col, err)
			}
		}
		return createTables(tx, map[string]any{
			"face_verifications": &m2FaceVerification{}, "session_revocations": &m2SessionRevocation{},
		})
	}},
	{3, "add status lists, verifiers, verifications and page tickets", func(tx *gorm.DB) error {
		return createTables(tx, map[string]any{
			"status_entries": &m3StatusEntry{}, "status_imports": &m3StatusImport{}, "data_versions": &m3DataVersion{},
			"verifiers": &m3Verifier{}, "verifications": &m3Verification{}, "h5_tickets": &m3H5Ticket{},
		})
	}},
	{4, "add relatives, household registers and birth records", func(tx *gorm.DB) error {
		return createTables(tx, map[string]any{
			"relatives": &m4Relative{}, "household_members": &m4HouseholdMember{}, "birth_records": &m4BirthRecord{},
		})
	}},
	{5, "record when a face verification confirmed a person's name", func(tx *gorm.DB) error {
		return tx.Table("persons").Migrator().AddColumn(&m5Person{}, "NameVerifiedAt")
	}},
	{6, "keep one index on verifications: holder and time, for tracing whom a code reached", func(tx *gorm.DB) error {
		// Every scan at peak writes a row here, and each secondary index is
		// another B-tree written per row. Nothing reads by verifier or by
		// time alone (retention can go by id, which rises with time), so
		// those indexes cost every scan and served nobody; an index for a
		// new reader comes with that reader.
		m := tx.Table("verifications").Migrator()
		for _, idx := range []string{"idx_verifications_verifier", "idx_verifications_checked_at", "idx_verifications_holder"} {
			if err := m.DropIndex(&m6Verification{}, idx); err != nil {
				return fmt.Errorf("drop %s: %w", idx, err)
			}
		}
		return m.CreateIndex(&m6Verification{}, "idx_verifications_holder_time")
	}},
	{7, "add identity claims: an account binds a document only when a face verification for its claim passes", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"identity_claims": &m7IdentityClaim{}}); err != nil {
			return err
		}
		if err := tx.Table("accounts").Migrator().AddColumn(&m7Account{}, "ClaimID"); err != nil {
			return fmt.Errorf("add accounts.claim_id: %w", err)
		}
		if err := tx.Table("accounts").Migrator().CreateIndex(&m7Account{}, "idx_accounts_claim_id"); err != nil {
			return fmt.Errorf("index accounts.claim_id: %w", err)
		}
		if err := tx.Table("face_verifications").Migrator().AddColumn(&m7FaceVerification{}, "ClaimID"); err != nil {
			return fmt.Errorf("add face_verifications.claim_id: %w", err)
		}
		// A pending identity of the old kind was a claim on a person record;
		// it binds nothing now, so the account claims afresh.
		return tx.Table("accounts").Where("pending_person_id IS NOT NULL").Update("pending_person_id", nil).Error
	}},
	{8, "index page tickets by expiry and face verifications by creation, for the purge", func(tx *gorm.DB) error {
		// Both are keyed by random ids, so without these the purge would
		// read the whole table to find what expired. Verifications need
		// none: their id rises with time (migration 6).
		if err := tx.Table("h5_tickets").Migrator().CreateIndex(&m8H5Ticket{}, "idx_h5_tickets_expires_at"); err != nil {
			return fmt.Errorf("create idx_h5_tickets_expires_at: %w", err)
		}
		if err := tx.Table("face_verifications").Migrator().CreateIndex(&m8FaceVerification{}, "idx_face_verifications_created_at"); err != nil {
			return fmt.Errorf("create idx_face_verifications_created_at: %w", err)
		}
		return nil
	}},
	{9, "compare identifiers exactly, keep the client's request id beside ours, show less of short documents", func(tx *gorm.DB) error {
		// Under utf8mb4_unicode_ci MySQL found "Victim" when asked for
		// "victim" or "vîctim": one platform user could log in to another's
		// account. SQLite compares bytes already. On a large table the
		// ALTER copies it: plan the upgrade for a quiet hour.
		// Each step can run again, should a run stop half-way.
		if m := tx.Table("audit_log").Migrator(); !m.HasColumn(&m9AuditEntry{}, "ClientRequestID") {
			if err := m.AddColumn(&m9AuditEntry{}, "ClientRequestID"); err != nil {
				return fmt.Errorf("add audit_log.client_request_id: %w", err)
			}
		}
		if tx.Dialector.Name() == "mysql" {
			if err := m9BinaryIdentifiers(tx); err != nil {
				return err
			}
		}
		for _, table := range []string{"persons", "identity_claims"} {
			if err := m9RemaskDocuments(tx, table); err != nil {
				return err
			}
		}
		return nil
	}},
	{10, "add dense person numbers, everyone's current status and the status change log", func(tx *gorm.DB) error {
		// Each step can run again, should a run stop half-way (a city's
		// persons table takes a while to number).
		m := tx.Migrator()
		for name, shape := range map[string]any{"person_numbers": &m10PersonNumber{}, "person_status": &m10PersonStatus{}, "status_changes": &m10StatusChange{}} {
			if !m.HasTable(name) {
				if err := createTables(tx, map[string]any{name: shape}); err != nil {
					return err
				}
			}
		}
		if pm := tx.Table("persons").Migrator(); !pm.HasColumn(&m10Person{}, "No") {
			if err := pm.AddColumn(&m10Person{}, "No"); err != nil {
				return fmt.Errorf("add persons.no: %w", err)
			}
		}
		if err := m10Number(tx); err != nil {
			return fmt.Errorf("number persons: %w", err)
		}
		if !tx.Table("persons").Migrator().HasIndex(&m10Person{}, "idx_persons_no") {
			if err := tx.Exec("CREATE UNIQUE INDEX idx_persons_no ON persons (no)").Error; err != nil {
				return fmt.Errorf("index persons.no: %w", err)
			}
		}
		// The row every writer of the change log locks, holding the last
		// sequence handed out.
		if err := tx.Exec("DELETE FROM data_versions WHERE name = 'status_log'").Error; err != nil {
			return err
		}
		if err := tx.Exec("INSERT INTO data_versions (name, version, updated_at) SELECT 'status_log', COALESCE(MAX(seq), 0), ? FROM status_changes",
			time.Now().UTC()).Error; err != nil {
			return fmt.Errorf("add the status log lock: %w", err)
		}
		return tx.Exec("DELETE FROM data_versions WHERE name = 'status'").Error
	}},
	{11, "run imports as jobs: lists are written beside the one in force and switched in one step", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"import_jobs": &m11ImportJob{}, "status_sources": &m11StatusSource{}}); err != nil {
			return err
		}
		if err := tx.Table("status_entries").Migrator().CreateIndex(&m11StatusEntry{}, "idx_status_entries_import"); err != nil {
			return fmt.Errorf("index status_entries.import_id: %w", err)
		}
		if tx.Dialector.Name() == "mysql" {
			// Identifiers compare byte for byte, as since migration 9.
			for _, alter := range []string{
				"ALTER TABLE `import_jobs` MODIFY `id` VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, " +
					"MODIFY `prev_import` VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, " +
					"MODIFY `actor` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, " +
					"MODIFY `request_id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, " +
					"MODIFY `runner` VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
				"ALTER TABLE `status_sources` MODIFY `import_id` VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
			} {
				if err := tx.Exec(alter).Error; err != nil {
					return fmt.Errorf("make import identifiers binary: %w", err)
				}
			}
		}
		// Each source's rows came from its last import: that list is in force.
		return tx.Exec("INSERT INTO status_sources (source, import_id, updated_at) "+
			"SELECT source, MAX(import_id), ? FROM status_entries GROUP BY source", time.Now().UTC()).Error
	}},
	{12, "replace household registers and birth records by generations, written beside the one in force", func(tx *gorm.DB) error {
		for _, table := range []string{"household_members", "birth_records"} {
			if err := tx.Table(table).Migrator().AddColumn(&m12RegisterRow{}, "Generation"); err != nil {
				return fmt.Errorf("add %s.generation: %w", table, err)
			}
		}
		if err := createTables(tx, map[string]any{"register_generations": &m12RegisterGeneration{}}); err != nil {
			return err
		}
		// The rows already there are the generation in force: ''.
		return tx.Exec("INSERT INTO register_generations (name, generation, updated_at) VALUES ('households', '', ?), ('births', '', ?)",
			time.Now().UTC(), time.Now().UTC()).Error
	}},
	{13, "add samplers, sampling tubes and samples", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"samplers": &m13Sampler{}, "sampling_tubes": &m13Tube{}, "samples": &m13Sample{}}); err != nil {
			return err
		}
		if tx.Dialector.Name() != "mysql" {
			return nil
		}
		// Barcodes and identifiers compare byte for byte, as since migration 9.
		bin := func(col string, size int) string {
			return fmt.Sprintf("MODIFY `%s` VARCHAR(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL", col, size)
		}
		for _, alter := range []string{
			"ALTER TABLE `samplers` " + bin("account_id", 32) + ", " + bin("granted_by", 64),
			"ALTER TABLE `sampling_tubes` " + bin("tube", 20) + ", " + bin("sampler_account_id", 32),
			"ALTER TABLE `samples` " + bin("sample_id", 64) + ", " + bin("tube", 20) + ", " + bin("person_id", 32) + ", " + bin("sampler_account_id", 32),
		} {
			if err := tx.Exec(alter).Error; err != nil {
				return fmt.Errorf("make sampling identifiers binary: %w", err)
			}
		}
		return nil
	}},
	{14, "add lab results: each person's latest result, test times in the status log, import jobs of results", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"nucleic_results": &m14NucleicResult{}}); err != nil {
			return err
		}
		for _, table := range []string{"person_status", "status_changes"} {
			if err := tx.Table(table).Migrator().AddColumn(&m14Tested{}, "TestedAt"); err != nil {
				return fmt.Errorf("add %s.tested_at: %w", table, err)
			}
		}
		if err := tx.Table("import_jobs").Migrator().AddColumn(&m14ImportJob{}, "Kind"); err != nil {
			return fmt.Errorf("add import_jobs.kind: %w", err)
		}
		if tx.Dialector.Name() == "mysql" {
			// Barcodes compare byte for byte, as in migration 13.
			return tx.Exec("ALTER TABLE `nucleic_results` MODIFY `tube` VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL").Error
		}
		return nil
	}},
	{15, "add offline codes: issued paper codes, each person's current serial, the revocation feed, kiosks", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"offline_codes": &m15OfflineCode{}, "offline_serials": &m15OfflineSerial{},
			"offline_revocations": &m15OfflineRevocation{}, "kiosks": &m15Kiosk{}}); err != nil {
			return err
		}
		// Identifiers compare byte for byte, as since migration 9.
		return binaryIdentifiers(tx, "offline code",
			"ALTER TABLE `offline_codes` "+binColumn("id", 32)+", "+binColumn("person_id", 32),
			"ALTER TABLE `offline_serials` "+binColumn("person_id", 32)+", "+binColumn("code_id", 32),
			"ALTER TABLE `kiosks` "+binColumn("id", 32))
	}},
	{16, "add venues (场所码), their deputies and check-ins", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"venues": &m16Venue{}, "venue_deputies": &m16VenueDeputy{}, "check_ins": &m16CheckIn{}}); err != nil {
			return err
		}
		return binaryIdentifiers(tx, "venue",
			"ALTER TABLE `venues` "+binColumn("id", 32)+", "+binColumn("registrar_account_id", 32)+", "+binColumn("decided_by", 64)+" DEFAULT ''",
			"ALTER TABLE `venue_deputies` "+binColumn("venue_id", 32)+", "+binColumn("account_id", 32)+", "+binColumn("added_by", 32),
			"ALTER TABLE `check_ins` "+binColumn("id", 32)+", "+binColumn("visit_id", 32)+", "+binColumn("venue_id", 32)+", "+
				binColumn("account_id", 32)+", "+binColumn("person_id", 32))
	}},
	{19, "walk an import's list in document order: index entries by import and document, persons by document with their number", func(tx *gorm.DB) error {
		// The sync of an import joins its entries with persons by doc_hash.
		// Walked in entry id order (the file's order) every row is a random
		// read in both; walked in document order both are read as ranges,
		// and persons' (doc_hash, no) answers the join without its rows.
		// The index on source served nothing since imports are jobs.
		if err := addColumn(tx.Table("import_jobs").Migrator(), &m19ImportJob{}, "CursorDoc"); err != nil {
			return fmt.Errorf("add import_jobs.cursor_doc: %w", err)
		}
		entries := tx.Table("status_entries").Migrator()
		if err := addIndex(entries, &m19StatusEntry{}, "idx_status_entries_import_doc"); err != nil {
			return fmt.Errorf("create idx_status_entries_import_doc: %w", err)
		}
		for _, name := range []string{"idx_status_entries_import", "idx_status_entries_source"} {
			if entries.HasIndex(&m19StatusEntry{}, name) {
				if err := entries.DropIndex(&m19StatusEntry{}, name); err != nil {
					return fmt.Errorf("drop %s: %w", name, err)
				}
			}
		}
		if err := addIndex(tx.Table("persons").Migrator(), &m19Person{}, "idx_persons_doc_no"); err != nil {
			return fmt.Errorf("create idx_persons_doc_no: %w", err)
		}
		return nil
	}},
	{20, "add the disability register (keyed document hashes, replaced whole by each import), who issued each offline code, and the sequence each offline serial was written at", func(tx *gorm.DB) error {
		if err := createTables(tx, map[string]any{"disability_register": &m20DisabilityEntry{}}); err != nil {
			return err
		}
		if err := addColumn(tx.Table("offline_codes").Migrator(), &m20OfflineCode{}, "IssuedBy"); err != nil {
			return fmt.Errorf("add offline_codes.issued_by: %w", err)
		}
		// Nodes apply the serials written after the last sequence they hold.
		serials := tx.Table("offline_serials").Migrator()
		if err := addColumn(serials, &m20OfflineSerial{}, "Seq"); err != nil {
			return fmt.Errorf("add offline_serials.seq: %w", err)
		}
		if err := addIndex(serials, &m20OfflineSerial{}, "idx_offline_serials_seq"); err != nil {
			return fmt.Errorf("create idx_offline_serials_seq: %w", err)
		}
		return binaryIdentifiers(tx, "disability register",
			"ALTER TABLE `disability_register` "+binColumn("generation", 32),
			"ALTER TABLE `offline_codes` "+binColumn("issued_by", 64)+" DEFAULT ''")
	}},
	{21, "index offline serials by when they were last written, so a person's serial is purged once their last paper has expired", func(tx *gorm.DB) error {
		if err := addIndex(tx.Table("offline_serials").Migrator(), &m21OfflineSerial{}, "idx_offline_serials_updated"); err != nil {
			return fmt.Errorf("create idx_offline_serials_updated: %w", err)
		}
		return nil
	}},
	{22, "key check-ins by time: a visit's id rises with time and its check-ins' ids extend it, so its page and the purge read the primary key, and the indexes by visit and by time go", func(tx *gorm.DB) error {
		if err := rekeyCheckIns(tx); err != nil {
			return err
		}
		m := tx.Table("check_ins").Migrator()
		for _, name := range []string{"idx_check_ins_visit", "idx_check_ins_time"} {
			if m.HasIndex(&m16CheckIn{}, name) {
				if err := m.DropIndex(&m16CheckIn{}, name); err != nil {
					return fmt.Errorf("drop %s: %w", name, err)
				}
			}
		}
		return nil
	}},
	{23, "cover the re-sampling check with the sample's tube, and index tubes by when they were opened, so a tube and its samples are purged", func(tx *gorm.DB) error {
		// Whether a person was sampled at another open tube within the hour
		// reads their recent samples' tubes: in the index, not the rows.
		// Each step can run again, should a run stop half-way.
		samples := tx.Table("samples").Migrator()
		if err := addIndex(samples, &m23Sample{}, "idx_samples_person_sampled_tube"); err != nil {
			return fmt.Errorf("create idx_samples_person_sampled_tube: %w", err)
		}
		if samples.HasIndex(&m13Sample{}, "idx_samples_person_sampled") {
			if err := samples.DropIndex(&m13Sample{}, "idx_samples_person_sampled"); err != nil {
				return fmt.Errorf("drop idx_samples_person_sampled: %w", err)
			}
		}
		if err := addIndex(tx.Table("sampling_tubes").Migrator(), &m23Tube{}, "idx_sampling_tubes_opened"); err != nil {
			return fmt.Errorf("create idx_sampling_tubes_opened: %w", err)
		}
		return nil
	}},
	{24, "index relative links by when they last changed, so ended ones are purged", func(tx *gorm.DB) error {
		if err := addIndex(tx.Table("relatives").Migrator(), &m24Relative{}, "idx_relatives_updated"); err != nil {
			return fmt.Errorf("create idx_relatives_updated: %w", err)
		}
		return nil
	}},
	{25, "a venue's deputy is a person, whichever account holds them: deputyships keyed by venue and person; venues indexed by their registrar", func(tx *gorm.DB) error {
		m := tx.Migrator()
		switch {
		case !m.HasTable("venue_deputies") && m.HasTable("venue_deputies_25"):
			// A run stopped between the drop and the rename.
		case m.HasColumn("venue_deputies", "account_id"):
			if m.HasTable("venue_deputies_25") { // a run that stopped before the drop
				if err := tx.Exec("DROP TABLE venue_deputies_25").Error; err != nil {
					return err
				}
			}
			if err := createTables(tx, map[string]any{"venue_deputies_25": &m25VenueDeputy{}}); err != nil {
				return err
			}
			if err := binaryIdentifiers(tx, "venue deputy", "ALTER TABLE `venue_deputies_25` "+binColumn("venue_id", 32)+", "+binColumn("added_by", 32)); err != nil {
				return err
			}
			// Each account's right goes to the person it holds now; one of
			// an account holding nobody gave nobody anything.
			if err := tx.Exec("INSERT INTO venue_deputies_25 (venue_id, person_no, added_by, added_at) " +
				"SELECT d.venue_id, p.no, MIN(d.added_by), MIN(d.added_at) FROM venue_deputies d " +
				"JOIN accounts a ON a.id = d.account_id JOIN persons p ON p.id = a.person_id GROUP BY d.venue_id, p.no").Error; err != nil {
				return fmt.Errorf("copy venue deputies: %w", err)
			}
			// Plain statements: GORM's MySQL migrator takes a connection of
			// its own for these, which a migration's pool does not lend.
			if err := tx.Exec("DROP TABLE venue_deputies").Error; err != nil {
				return err
			}
		}
		if !m.HasTable("venue_deputies") {
			if err := tx.Exec("ALTER TABLE venue_deputies_25 RENAME TO venue_deputies").Error; err != nil {
				return fmt.Errorf("rename venue_deputies_25: %w", err)
			}
		}
		// A bind moves the person's venues to their account: found by
		// registrar person, not by scanning.
		if err := addIndex(tx.Table("venues").Migrator(), &m25Venue{}, "idx_venues_registrar_person"); err != nil {
			return fmt.Errorf("create idx_venues_registrar_person: %w", err)
		}
		return nil
	}},
	{26, "index venues by when they ended (a rejected one ends when rejected), so ended venues are purged", func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE venues SET ended_at = decided_at WHERE state = 'rejected' AND ended_at IS NULL").Error; err != nil {
			return fmt.Errorf("end rejected venues: %w", err)
		}
		if err := addIndex(tx.Table("venues").Migrator(), &m26Venue{}, "idx_venues_ended"); err != nil {
			return fmt.Errorf("create idx_venues_ended: %w", err)
		}
		return nil
	}},
}

// Frozen table shape of migration 24.
type m24Relative struct {
	UpdatedAt time.Time `gorm:"index:idx_relatives_updated"`
}

// Frozen table shapes of migration 25.
type (
	m25VenueDeputy struct {
		VenueID  string `gorm:"primaryKey;size:32"`
		PersonNo uint32 `gorm:"primaryKey;autoIncrement:false;index:idx_venue_deputies_person"`
		AddedBy  string `gorm:"size:32;not null"`
		AddedAt  time.Time
	}
	m25Venue struct {
		RegistrarPersonNo uint32 `gorm:"not null;index:idx_venues_registrar_person"`
	}
)

// Frozen table shape of migration 26.
type m26Venue struct {
	EndedAt *time.Time `gorm:"index:idx_venues_ended"`
}

// Frozen table shapes of migration 23.
type (
	m23Sample struct {
		PersonID  string    `gorm:"size:32;not null;index:idx_samples_person_sampled_tube,priority:1"`
		SampledAt time.Time `gorm:"index:idx_samples_person_sampled_tube,priority:2"`
		Tube      string    `gorm:"size:20;not null;index:idx_samples_person_sampled_tube,priority:3"`
	}
	m23Tube struct {
		OpenedAt time.Time `gorm:"index:idx_sampling_tubes_opened"`
	}
)

// rekeyCheckIns gives the check-ins written before migration 22 (random
// ids of 26 characters) ids of the new form, visit by visit, each visit in
// a transaction of its batch: a run that stops part way resumes with the
// rows it had not reached.
func rekeyCheckIns(tx *gorm.DB) error {
	const batch = 1000
	after := ""
	for {
		var rows []struct {
			ID, VisitID string
			CheckedInAt time.Time
		}
		err := tx.Table("check_ins").Select("id, visit_id, checked_in_at").Where("LENGTH(id) = 26 AND visit_id > ?", after).
			Order("visit_id, id").Limit(batch).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read check-ins to rekey: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		// Whole visits only: the last one may go on in the next batch.
		end := len(rows)
		if end == batch {
			for end > 1 && rows[end-1].VisitID == rows[len(rows)-1].VisitID {
				end--
			}
		}
		err = tx.Transaction(func(tx *gorm.DB) error {
			for i := 0; i < end; {
				first, visit := i, models.NewOrderedID(rows[i].CheckedInAt)
				for ; i < end && rows[i].VisitID == rows[first].VisitID; i++ {
					if err := tx.Exec("UPDATE check_ins SET id = ?, visit_id = ? WHERE id = ?", models.CheckInID(visit, i-first), visit, rows[i].ID).Error; err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rekey check-ins: %w", err)
		}
		after = rows[end-1].VisitID
	}
}

// Frozen table shape of migration 21.
type m21OfflineSerial struct {
	UpdatedAt time.Time `gorm:"index:idx_offline_serials_updated"`
}

// Frozen table shapes of migration 20: the disability register, and who
// issued an offline code ("kiosk:<id>" or "account:<id>").
type (
	m20DisabilityEntry struct {
		ID         uint64 `gorm:"primaryKey;autoIncrement"`
		DocHash    []byte `gorm:"size:32;not null;index:idx_disability_register_doc,priority:1"`
		Generation string `gorm:"size:32;not null;index:idx_disability_register_doc,priority:2;index:idx_disability_register_generation"`
	}
	m20OfflineCode struct {
		IssuedBy string `gorm:"size:64;not null;default:''"`
	}
	m20OfflineSerial struct {
		Seq int64 `gorm:"not null;default:0;index:idx_offline_serials_seq"`
	}
)

// Frozen table shapes of migration 15: offline codes.
type (
	m15OfflineCode struct {
		ID        string    `gorm:"primaryKey;size:32"`
		PersonID  string    `gorm:"size:32;not null;index:idx_offline_codes_person"`
		PersonNo  uint32    `gorm:"not null"`
		Serial    int64     `gorm:"not null"`
		IssuedAt  time.Time `gorm:"not null"`
		ExpiresAt time.Time `gorm:"not null;index:idx_offline_codes_expires"`
		RevokedAt *time.Time
		Reason    string `gorm:"size:16;not null"`
	}
	m15OfflineSerial struct {
		PersonID  string `gorm:"primaryKey;size:32"`
		PersonNo  uint32 `gorm:"not null"`
		Serial    int64  `gorm:"not null"`
		Lost      bool   `gorm:"not null"`
		CodeID    string `gorm:"size:32;not null"`
		UpdatedAt time.Time
	}
	m15Kiosk struct {
		ID        string `gorm:"primaryKey;size:32"`
		Name      string `gorm:"size:64;not null"`
		Place     string `gorm:"size:128;not null"`
		KeyHash   []byte `gorm:"size:32;not null;uniqueIndex:idx_kiosks_key_hash"`
		CreatedAt time.Time
		DeletedAt *time.Time
	}
	m15OfflineRevocation struct {
		Seq       int64     `gorm:"primaryKey;autoIncrement:false"`
		CodeHash  []byte    `gorm:"size:16;not null"`
		RevokedAt time.Time `gorm:"not null;index:idx_offline_revocations_at"`
	}
)

// Frozen table shapes of migration 19: imports walked in document order.
type (
	m19ImportJob struct {
		CursorDoc []byte `gorm:"size:32"`
	}
	m19StatusEntry struct {
		ImportID string `gorm:"size:32;not null;index:idx_status_entries_import_doc,priority:1"`
		DocHash  []byte `gorm:"size:32;not null;index:idx_status_entries_import_doc,priority:2"`
	}
	m19Person struct {
		DocHash []byte `gorm:"size:32;not null;index:idx_persons_doc_no,priority:1"`
		No      uint32 `gorm:"not null;default:0;index:idx_persons_doc_no,priority:2"`
	}
)

// binColumn is the MySQL column change that makes an identifier compare
// byte for byte (a later migration's columns, as migration 9 did for the
// first ones).
func binColumn(col string, size int) string {
	return fmt.Sprintf("MODIFY `%s` VARCHAR(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL", col, size)
}

// binaryIdentifiers runs the ALTER statements on MySQL (SQLite compares
// bytes already); what names the tables in an error.
func binaryIdentifiers(tx *gorm.DB, what string, alters ...string) error {
	if tx.Dialector.Name() != "mysql" {
		return nil
	}
	for _, alter := range alters {
		if err := tx.Exec(alter).Error; err != nil {
			return fmt.Errorf("make %s identifiers binary: %w", what, err)
		}
	}
	return nil
}

// LatestSchemaVersion is the version the code expects.
func LatestSchemaVersion() int { return migrations[len(migrations)-1].Version }

func createTables(tx *gorm.DB, tables map[string]any) error {
	for name, shape := range tables {
		if tx.Migrator().HasTable(name) {
			continue // made by a run that stopped before it was recorded
		}
		if err := tableOptions(tx).Table(name).Migrator().CreateTable(shape); err != nil {
			return fmt.Errorf("create table %s: %w", name, err)
		}
	}
	return nil
}

// addColumn and addIndex add what a migration adds unless an earlier run
// of it already did: MySQL commits each schema change at once, so a run
// that stopped half way left them without recording the migration.
func addColumn(m gorm.Migrator, shape any, field string) error {
	if m.HasColumn(shape, field) {
		return nil
	}
	return m.AddColumn(shape, field)
}

func addIndex(m gorm.Migrator, shape any, name string) error {
	if m.HasIndex(shape, name) {
		return nil
	}
	return m.CreateIndex(shape, name)
}

// tableOptions makes MySQL tables InnoDB in utf8mb4 whatever the server's
// default character set.
func tableOptions(tx *gorm.DB) *gorm.DB {
	if tx.Dialector.Name() == "mysql" {
		return tx.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
	}
	return tx
}

// migrationLock names the migration lock of the current database (a hash:
// MySQL allows 64 characters), as purgeLock does.
const migrationLock = "CONCAT('healthcode_migrate:', MD5(DATABASE()))"

// Migrate applies every pending migration in order and returns the names of
// those it applied (none when the schema is current). It is safe to run
// again. A failed migration stops the run and is reported with its version.
func Migrate(ctx context.Context, db *gorm.DB, clock models.Clock) (applied []string, err error) {
	// On MySQL, nodes starting together take turns: a named lock on one
	// pinned connection serialises their migration runs. The lock is named
	// for the database, as lock names are the whole server's: migrations of
	// other databases on it (other deployments, parallel tests) do not wait.
	err = db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		// A session, so each statement below starts clean on the pinned
		// connection instead of piling onto one shared statement.
		conn = conn.Session(&gorm.Session{})
		if conn.Dialector.Name() == "mysql" {
			var got int
			if err := conn.Raw("SELECT GET_LOCK(" + migrationLock + ", 60)").Scan(&got).Error; err != nil || got != 1 {
				return fmt.Errorf("take the migration lock: %v", err)
			}
			defer conn.Exec("SELECT RELEASE_LOCK(" + migrationLock + ")")
		}
		applied, err = migrate(conn, clock)
		return err
	})
	return applied, err
}

func migrate(db *gorm.DB, clock models.Clock) ([]string, error) {
	if err := tableOptions(db).AutoMigrate(&schemaMigration{}); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	done, err := appliedVersions(db)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range migrations {
		// Every migration not yet recorded runs, not only those above the
		// highest recorded: branches developed side by side land in either
		// order, and a database that took a later one first still gets the
		// earlier.
		if done[m.Version] {
			continue
		}
		// MySQL commits DDL implicitly, so each migration is recorded right
		// after it runs rather than inside one transaction with it.
		if err := m.Up(db); err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		rec := schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: clock.Now().UTC()}
		if err := db.Create(&rec).Error; err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		applied = append(applied, fmt.Sprintf("%d %s", m.Version, m.Name))
	}
	return applied, nil
}

// SchemaVersion returns the highest applied migration version, 0 when none.
func SchemaVersion(ctx context.Context, db *gorm.DB) (int, error) {
	db = db.WithContext(ctx)
	if !db.Migrator().HasTable(&schemaMigration{}) {
		return 0, nil
	}
	return schemaVersion(db)
}

// schemaVersion is the highest version up to which every migration is
// applied, or the highest recorded one when that is newer than this code
// knows (a database a newer release migrated).
func schemaVersion(db *gorm.DB) (int, error) {
	done, err := appliedVersions(db)
	if err != nil {
		return 0, err
	}
	v := 0
	for _, m := range migrations {
		if !done[m.Version] {
			break
		}
		v = m.Version
	}
	for recorded := range done {
		if recorded > LatestSchemaVersion() {
			v = max(v, recorded)
		}
	}
	return v, nil
}

// appliedVersions returns the versions schema_migrations records.
func appliedVersions(db *gorm.DB) (map[int]bool, error) {
	var versions []int
	if err := db.Model(&schemaMigration{}).Pluck("version", &versions).Error; err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	done := make(map[int]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}
