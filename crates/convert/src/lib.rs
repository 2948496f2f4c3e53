//! Pure fold of registry events into Istio ServiceEntries, with istiod's validation rules
