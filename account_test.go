package jagadesa

import "testing"

func TestUserValidate(t *testing.T) {
	ok := []User{
		{Username: "admin.jateng", Role: RoleProvinceAdmin, Province: "33"},
		{Username: "csirt-purworejo", Role: RoleRegencyAnalyst, Province: "33", Regency: "33.06"},
		{Username: "tek_1", Role: RoleTechnician, Province: "15", Regency: "15.09"},
		{Username: "diskominfo.purworejo", Role: RoleViewer, Province: "33", Regency: "33.06"}, // a regency's Diskominfo
		{Username: "diskominfo.jateng", Role: RoleViewer, Province: "33"},
	}
	for _, u := range ok {
		if p := u.Validate(); p != nil {
			t.Errorf("%+v: %v", u, p)
		}
	}
	bad := map[string]User{
		"username": {Username: "Al", Role: RoleViewer, Province: "33"},
		"role":     {Username: "someone", Role: "root", Province: "33"},
		"province": {Username: "someone", Role: RoleViewer, Province: "3"},
		"regency":  {Username: "someone", Role: RoleRegencyAnalyst, Province: "33", Regency: "15.09"},
	}
	for field, u := range bad {
		if p := u.Validate(); p[field] == "" {
			t.Errorf("%+v: problems %v lack %s", u, p, field)
		}
	}
	for _, u := range []User{
		{Username: "viewer", Role: RoleViewer, Province: "33", Regency: "15.09"}, // outside its province
		{Username: "viewer", Role: RoleViewer, Province: "33", Regency: "33.6"},  // not a regency code
		{Username: "analyst", Role: RoleProvinceAnalyst, Province: "33", Regency: "33.06"},
	} {
		if p := u.Validate(); p["regency"] == "" {
			t.Errorf("%+v accepted", u)
		}
	}
}
