"""Cards of strategic alignment: the matrix (matrix.py) and the improvement team's forms
(forms.py), pure functions of the matrix and of view models."""
