"""Network (共享制造 / 供需对接): capability profiles, spare capacity, demands, matching, allocation, orders."""
