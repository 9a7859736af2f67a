// Package accounts holds the logic of staff accounts: password hashing and
// policy, API tokens, session ids and probe enrollment codes, and the
// jurisdiction policy every endpoint asks before it shows or changes
// anything.
//
// It is pure logic: no storage and no HTTP. The metadata store keeps the
// hashes this package makes; the server turns a request into a Principal
// and asks it. Keeping the policy here, in one place, is what issue 12 asks
// for: a page, an export, a tile and a notification action must not each
// decide on their own who may see a village.
package accounts
