"""her2audit: does our HER2-positive metastatic breast cancer cohort get the recommended
sequence of therapy, and what happens to patients when it does not?"""

__version__ = "0.1.0"
