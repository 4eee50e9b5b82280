"""HTTP handlers, one module per HubSpot API family, each exporting its ``ROUTES``."""
