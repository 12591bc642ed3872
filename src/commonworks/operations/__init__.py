"""Operations: machine states on the ISO 22400-2 time model, OEE and the related KPIs."""
