package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/receiptflow/receiptflow/pii"
)

// Payer is an enterprise that pays payees through the platform.
type Payer struct {
	ID        string
	Name      string
	Secret    string // merchant API HMAC secret, in clear only in memory
	Account   Account
	CreatedAt time.Time
}

// Account is a bank account: the payer's registered settlement account, or the one funds were remitted from.
// Name and number are sealed at rest; AccountHash (a keyed hash of the number) compares them.
type Account struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

func (a Account) empty() bool { return a.Name == "" && a.Number == "" }

// normalizeAccountNumber drops the spaces and dashes bank statements print inside account numbers.
func normalizeAccountNumber(n string) string {
	return strings.NewReplacer(" ", "", "-", "", "\u3000", "").Replace(strings.TrimSpace(n))
}

func validAccount(a Account) error {
	n := normalizeAccountNumber(a.Number)
	if err := CheckText("account name", a.Name, 2, 64); err != nil {
		return err
	}
	if len(n) < 6 || len(n) > 34 {
		return invalid("account number must be 6-34 characters")
	}
	for _, c := range n {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return invalid("account number must be letters and digits")
		}
	}
	return nil
}

// Payee is a person paid through the platform, without their name and ID number: those stay sealed here and
// come out only through Identity.
type Payee struct {
	ID          string
	OpenID      string
	Verified    bool // real-name details registered (format and checksum checked)
	IDHash      string
	BirthDate   time.Time // from the ID number; zero when not verified
	IDExpiresOn string    // YYYY-MM-DD, empty when long-term or unknown
	VerifiedAt  time.Time
	// FaceVerified: WeChat face verification passed for this identity, so it is the person's own, not only typed in.
	FaceVerified   bool
	FaceVerifiedAt time.Time
}

// Identity is a payee's real name and ID number in clear. Only the activity that calls WeChat reads it.
type Identity struct {
	Name     string
	IDNumber string
}

// Agreement is the service agreement a payee signed with a payer.
type Agreement struct {
	ID              string
	PayerID         string
	PayeeID         string
	SignatoryIDHash string
	Status          string
	SignedAt        time.Time
}

// Agreement states.
const (
	AgreementActive     = "ACTIVE"
	AgreementTerminated = "TERMINATED"
)

// OpenIDPattern is what a WeChat openid looks like (28 characters of base64url in practice; looser here).
var OpenIDPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// PayerIDPattern is what a payer ID looks like.
var PayerIDPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{3,32}$`)

// PutPayer creates a payer or, when id exists, leaves it as it is.
func (s *Store) PutPayer(ctx context.Context, p Payer) error {
	if !PayerIDPattern.MatchString(p.ID) || len(p.Secret) < 16 {
		return invalid("payer needs an id of 3-32 of [0-9A-Za-z_-] and a secret of at least 16 bytes")
	}
	if err := CheckText("name", p.Name, 2, 64); err != nil {
		return err
	}
	if !p.Account.empty() {
		if err := validAccount(p.Account); err != nil {
			return err
		}
	}
	name, number, hash := s.sealAccount(p.Account, "payer:"+p.ID+":account")
	_, err := s.exec(ctx, s.db, `INSERT INTO payers (id, name, secret_enc, account_name_enc, account_no_enc, account_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Name, s.seal.SealString(p.Secret, "payer:"+p.ID+":secret"), name, number, hash, s.stamp())
	return err
}

// sealAccount seals an account's name and number for a row and hashes its number; all NULL when empty.
func (s *Store) sealAccount(a Account, aad string) (name, number, hash any) {
	if a.empty() {
		return nil, nil, nil
	}
	n := normalizeAccountNumber(a.Number)
	return s.seal.SealString(a.Name, aad+":name"), s.seal.SealString(n, aad+":number"), s.hash.Token("account:" + n)
}

func (s *Store) openAccount(name, number sql.NullString, aad string) (Account, error) {
	if !name.Valid || !number.Valid {
		return Account{}, nil
	}
	var a Account
	var err error
	if a.Name, err = s.seal.OpenString(name.String, aad+":name"); err != nil {
		return Account{}, err
	}
	a.Number, err = s.seal.OpenString(number.String, aad+":number")
	return a, err
}

// Payer loads a payer with its secret and settlement account.
func (s *Store) Payer(ctx context.Context, id string) (Payer, error) {
	var p Payer
	var sealed, created string
	var accName, accNo sql.NullString
	err := s.row(ctx, s.db, `SELECT id, name, secret_enc, account_name_enc, account_no_enc, created_at FROM payers WHERE id = ?`, id).
		Scan(&p.ID, &p.Name, &sealed, &accName, &accNo, &created)
	if err != nil {
		return Payer{}, notFound(err, "payer")
	}
	if p.Secret, err = s.seal.OpenString(sealed, "payer:"+id+":secret"); err != nil {
		return Payer{}, fmt.Errorf("payer %s secret: %w", id, err)
	}
	if p.Account, err = s.openAccount(accName, accNo, "payer:"+id+":account"); err != nil {
		return Payer{}, fmt.Errorf("payer %s account: %w", id, err)
	}
	p.CreatedAt = parseTime(created)
	return p, nil
}

// PayerAccountHash is the keyed hash of the payer's registered settlement account number; empty when none is
// registered.
func (s *Store) PayerAccountHash(ctx context.Context, payerID string) (string, error) {
	var h sql.NullString
	if err := s.row(ctx, s.db, `SELECT account_hash FROM payers WHERE id = ?`, payerID).Scan(&h); err != nil {
		return "", notFound(err, "payer")
	}
	return h.String, nil
}

// EnsurePayee returns the payee for openid, creating an unverified one on first sight.
func (s *Store) EnsurePayee(ctx context.Context, openid string) (Payee, error) {
	if !OpenIDPattern.MatchString(openid) {
		return Payee{}, invalid("openid must be 1-64 of [0-9A-Za-z_-]")
	}
	if _, err := s.exec(ctx, s.db, `INSERT INTO payees (id, openid, created_at) VALUES (?, ?, ?) ON CONFLICT (openid) DO NOTHING`,
		NewID("pe"), openid, s.stamp()); err != nil {
		return Payee{}, err
	}
	return s.PayeeByOpenID(ctx, openid)
}

// ErrIdentityTaken: the ID number is already bound to another WeChat account.
var ErrIdentityTaken = fmt.Errorf("identity already bound to another account: %w", ErrConflict)

// ErrIdentityLocked: a verified payee cannot switch to another identity.
var ErrIdentityLocked = fmt.Errorf("a different identity is already verified for this account: %w", ErrConflict)

// VerifyIdentity records the real-name identity of openid's payee, sealed. Submitting the same identity again is
// harmless; another identity for a verified payee, or one bound to another account, is a conflict.
func (s *Store) VerifyIdentity(ctx context.Context, openid, name, idNumber, idExpiresOn string) (Payee, error) {
	idNumber = pii.NormalizeIDNumber(idNumber)
	if err := pii.ValidateName(name); err != nil {
		return Payee{}, invalidErr(err)
	}
	if err := pii.ValidateIDNumber(idNumber); err != nil {
		return Payee{}, invalidErr(err)
	}
	if idExpiresOn != "" {
		if _, err := time.Parse("2006-01-02", idExpiresOn); err != nil {
			return Payee{}, invalid("idExpiresOn must be YYYY-MM-DD")
		}
	}
	p, err := s.EnsurePayee(ctx, openid)
	if err != nil {
		return Payee{}, err
	}
	hash := s.hash.IDNumber(idNumber)
	if p.Verified {
		if p.IDHash != hash {
			return Payee{}, ErrIdentityLocked
		}
		current, err := s.Identity(ctx, p.ID)
		if err != nil {
			return Payee{}, err
		}
		if current.Name != name {
			return Payee{}, ErrIdentityLocked
		}
		return p, nil
	}
	var other string
	err = s.row(ctx, s.db, `SELECT id FROM payees WHERE id_hash = ?`, hash).Scan(&other)
	if err == nil && other != p.ID {
		return Payee{}, ErrIdentityTaken
	}
	res, err := s.exec(ctx, s.db, `UPDATE payees SET name_enc = ?, id_number_enc = ?, id_hash = ?, id_expires_on = ?, verified_at = ?
		WHERE id = ? AND verified_at IS NULL`,
		s.seal.SealString(name, "payee:"+p.ID+":name"), s.seal.SealString(idNumber, "payee:"+p.ID+":id_number"),
		hash, nullString(idExpiresOn), s.stamp(), p.ID)
	if err != nil {
		// The unique index on id_hash catches a race with another account; anything else is our trouble.
		if s.row(ctx, s.db, `SELECT id FROM payees WHERE id_hash = ?`, hash).Scan(&other) == nil && other != p.ID {
			return Payee{}, ErrIdentityTaken
		}
		return Payee{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.VerifyIdentity(ctx, openid, name, idNumber, idExpiresOn) // verified meanwhile: compare again
	}
	return s.PayeeByOpenID(ctx, openid)
}

const payeeColumns = `id, openid, id_number_enc, id_hash, id_expires_on, verified_at, face_verified_at`

func (s *Store) scanPayee(r interface{ Scan(...any) error }) (Payee, error) {
	var p Payee
	var sealedID, hash, expires, verified, faceVerified sql.NullString
	if err := r.Scan(&p.ID, &p.OpenID, &sealedID, &hash, &expires, &verified, &faceVerified); err != nil {
		return Payee{}, notFound(err, "payee")
	}
	p.IDHash, p.IDExpiresOn = hash.String, expires.String
	if faceVerified.Valid {
		p.FaceVerified, p.FaceVerifiedAt = true, parseTime(faceVerified.String)
	}
	if verified.Valid {
		p.Verified, p.VerifiedAt = true, parseTime(verified.String)
		id, err := s.seal.OpenString(sealedID.String, "payee:"+p.ID+":id_number")
		if err != nil {
			return Payee{}, fmt.Errorf("payee %s: %w", p.ID, err)
		}
		p.BirthDate, _ = pii.BirthDate(id)
	}
	return p, nil
}

// PayeeByOpenID loads a payee.
func (s *Store) PayeeByOpenID(ctx context.Context, openid string) (Payee, error) {
	return s.scanPayee(s.row(ctx, s.db, `SELECT `+payeeColumns+` FROM payees WHERE openid = ?`, openid))
}

// Payee loads a payee by ID.
func (s *Store) Payee(ctx context.Context, id string) (Payee, error) {
	return s.scanPayee(s.row(ctx, s.db, `SELECT `+payeeColumns+` FROM payees WHERE id = ?`, id))
}

// Identity unseals a verified payee's name and ID number.
func (s *Store) Identity(ctx context.Context, payeeID string) (Identity, error) {
	return s.identity(ctx, s.db, payeeID)
}

func (s *Store) identity(ctx context.Context, q querier, payeeID string) (Identity, error) {
	var name, id sql.NullString
	if err := s.row(ctx, q, `SELECT name_enc, id_number_enc FROM payees WHERE id = ?`, payeeID).Scan(&name, &id); err != nil {
		return Identity{}, notFound(err, "payee")
	}
	if !name.Valid || !id.Valid {
		return Identity{}, fmt.Errorf("payee %s has no verified identity: %w", payeeID, ErrNotFound)
	}
	var out Identity
	var err error
	if out.Name, err = s.seal.OpenString(name.String, "payee:"+payeeID+":name"); err != nil {
		return Identity{}, err
	}
	if out.IDNumber, err = s.seal.OpenString(id.String, "payee:"+payeeID+":id_number"); err != nil {
		return Identity{}, err
	}
	return out, nil
}

// ErrNotVerified: the payee must finish real-name verification first.
var ErrNotVerified = errors.New("payee has not completed real-name verification")

// SignAgreement records that the verified payee signed the service agreement with payer. Signing again is harmless.
func (s *Store) SignAgreement(ctx context.Context, payerID, payeeID string) (Agreement, error) {
	p, err := s.Payee(ctx, payeeID)
	if err != nil {
		return Agreement{}, err
	}
	if !p.Verified {
		return Agreement{}, ErrNotVerified
	}
	if _, err := s.Payer(ctx, payerID); err != nil {
		return Agreement{}, err
	}
	_, err = s.exec(ctx, s.db, `INSERT INTO agreements (id, payer_id, payee_id, signatory_id_hash, status, signed_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (payer_id, payee_id) DO NOTHING`, NewID("ag"), payerID, payeeID, p.IDHash, AgreementActive, s.stamp())
	if err != nil {
		return Agreement{}, err
	}
	return s.Agreement(ctx, payerID, payeeID)
}

// Agreement loads the agreement between payer and payee.
func (s *Store) Agreement(ctx context.Context, payerID, payeeID string) (Agreement, error) {
	var a Agreement
	var signed string
	err := s.row(ctx, s.db, `SELECT id, payer_id, payee_id, signatory_id_hash, status, signed_at FROM agreements WHERE payer_id = ? AND payee_id = ?`,
		payerID, payeeID).Scan(&a.ID, &a.PayerID, &a.PayeeID, &a.SignatoryIDHash, &a.Status, &signed)
	if err != nil {
		return Agreement{}, notFound(err, "agreement")
	}
	a.SignedAt = parseTime(signed)
	return a, nil
}

// TerminateAgreement ends an agreement; later payouts under it are refused.
func (s *Store) TerminateAgreement(ctx context.Context, payerID, payeeID string) error {
	res, err := s.exec(ctx, s.db, `UPDATE agreements SET status = ? WHERE payer_id = ? AND payee_id = ?`, AgreementTerminated, payerID, payeeID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("agreement: %w", ErrNotFound)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// IdentityOfOpenID is the registered name and ID number of the payee behind an openid (for the payee's own
// statement; callers mask them).
func (s *Store) IdentityOfOpenID(ctx context.Context, openid string) (Identity, error) {
	p, err := s.PayeeByOpenID(ctx, openid)
	if err != nil {
		return Identity{}, err
	}
	return s.Identity(ctx, p.ID)
}
