"""Named places on MediaPipe's 478-point face mesh (topology facts, not data).

"Left"/"right" here are the *image* sides of a non-mirrored photo: the eye on
the image left is the subject's right eye.
"""

from __future__ import annotations

# Points that barely move with expressions: pose and face size are measured on them.
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 10, 151, 9, 8, 234, 454, 127, 356)

EYE_OUTER_LEFT = 33  # outer corner of the eye on the image left
EYE_INNER_LEFT = 133
EYE_INNER_RIGHT = 362
EYE_OUTER_RIGHT = 263
FOREHEAD = 10
NOSE_BRIDGE = 168
NOSE_TIP = 1
NOSE_BOTTOM = 2
CHIN = 152

# Upper/lower lid mid points of each eye (image-left eye, image-right eye).
LID_UPPER = (159, 386)
LID_LOWER = (145, 374)
EYE_CORNERS = ((33, 133), (362, 263))
# Refined iris centres and rings (present with refine_landmarks=True).
IRIS_CENTER = (468, 473)
IRIS_RING = ((469, 470, 471, 472), (474, 475, 476, 477))

# Eye contours (closed loops), image-left eye then image-right eye.
EYE_CONTOUR = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
)
UPPER_LID = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (362, 398, 384, 385, 386, 387, 388, 466, 263))
LOWER_LID = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (362, 382, 381, 380, 374, 373, 390, 249, 263))
BROWS = (
    (70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
    (300, 293, 334, 296, 336, 285, 295, 282, 283, 276),
)

MOUTH_CORNERS = (61, 291)
LIP_INNER_UPPER_MID = 13
LIP_INNER_LOWER_MID = 14
# Inner lip contour, a closed loop from the image-left corner along the upper lip.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)

# The face outline, a closed loop starting at the forehead going clockwise in the image.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
