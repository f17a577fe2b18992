"""Fitting: the non-blind INR deblurring loop and its regularisers."""
