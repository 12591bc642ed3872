"""Settings, database, auth and tenancy, errors, i18n: what every domain stands on."""
