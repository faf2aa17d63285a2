"""The checkpoint clearance tracker."""
