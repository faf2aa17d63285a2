"""The advocates' dashboard (/dashboard) and the driver's offline phone page (/driver)."""
