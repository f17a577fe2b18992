"""Datasets: the registry, fetching (`fetch`, over `download`), one reader per dataset
(`levin`, `lai`, `kodak`, `gopro`, `virtualcmb`, `realcmb`, `demo`) and the prepare and
synthesize stages."""
