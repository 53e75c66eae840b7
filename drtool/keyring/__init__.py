"""Repository format 2's key hierarchy: generations, reader key files, writer credentials and
registrations, signed manifests. docs/FORMAT.md, "Keys, format 2", is the specification."""
