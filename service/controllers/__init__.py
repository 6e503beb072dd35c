"""HTTP controllers: thin; they parse, call a service and return a Struct."""
