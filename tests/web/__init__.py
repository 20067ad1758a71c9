"""Tests of the web layer (prescientd.web) against fakes over loopback HTTP."""
